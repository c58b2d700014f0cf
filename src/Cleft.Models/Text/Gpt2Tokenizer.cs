using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Cleft.Models.Text;

/// <summary>
/// GPT-2's byte-level BPE: text -> UTF-8 bytes, each byte mapped to a printable stand-in character, the
/// stream pre-split by GPT-2's regex, and each piece merged pairwise by merge rank until no ranked pair is
/// left. Loads the two files every GPT-2 checkpoint ships: vocab.json (= encoder.json) and merges.txt
/// (= vocab.bpe).
/// </summary>
public sealed partial class Gpt2Tokenizer
{
    readonly Dictionary<string, int> _encoder;
    readonly string[] _decoder;
    readonly Dictionary<(string, string), int> _ranks;
    readonly Dictionary<string, int[]> _cache = new();

    static readonly char[] ByteToChar = BuildByteMap();
    static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, (byte)b)).ToDictionary(x => x.c, x => x.Item2);

    public Gpt2Tokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges)
    {
        _encoder = new Dictionary<string, int>(vocab);
        if (_encoder.Count == 0) throw new ArgumentException("GPT-2 tokenizer: the vocabulary is empty");
        int max = _encoder.Values.Max();
        if (_encoder.Values.Min() < 0) throw new ArgumentException("GPT-2 tokenizer: negative token id in the vocabulary");
        _decoder = new string[max + 1];
        foreach (var (token, id) in _encoder)
        {
            if (_decoder[id] is not null) throw new ArgumentException($"GPT-2 tokenizer: id {id} is used by '{_decoder[id]}' and '{token}'");
            _decoder[id] = token;
        }
        _ranks = new();
        int rank = 0;
        foreach (var m in merges) _ranks.TryAdd(m, rank++);
        // Every single byte must be a token, or some inputs could not be encoded at all.
        foreach (char c in ByteToChar)
            if (!_encoder.ContainsKey(c.ToString()))
                throw new ArgumentException($"GPT-2 tokenizer: the vocabulary lacks the byte token '{c}' (U+{(int)c:X4})");
    }

    /// <summary>Loads vocab.json and merges.txt; errors name the file and the line.</summary>
    public static Gpt2Tokenizer Load(string vocabJsonPath, string mergesPath)
    {
        Dictionary<string, int> vocab;
        try
        {
            using var stream = File.OpenRead(vocabJsonPath);
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
                ?? throw new InvalidDataException("the file holds JSON null");
        }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{vocabJsonPath}: not a GPT-2 vocabulary (a JSON object of token -> id): {e.Message}", e);
        }
        var merges = new List<(string, string)>();
        int lineNo = 0;
        foreach (string line in File.ReadLines(mergesPath))
        {
            lineNo++;
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            int space = line.IndexOf(' ');
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                throw new InvalidDataException($"{mergesPath}:{lineNo}: a merge line must be two tokens separated by one space, got '{line}'");
            merges.Add((line[..space], line[(space + 1)..]));
        }
        try { return new Gpt2Tokenizer(vocab, merges); }
        catch (ArgumentException e) { throw new InvalidDataException($"{vocabJsonPath}: {e.Message}", e); }
    }

    public int VocabSize => _decoder.Length;

    /// <summary>The id of a token string such as "&lt;|endoftext|&gt;", or an error naming it.</summary>
    public int TokenId(string token) => _encoder.TryGetValue(token, out int id) ? id
        : throw new KeyNotFoundException($"GPT-2 tokenizer: no token '{token}' in the vocabulary");

    public int[] Encode(string text)
    {
        var ids = new List<int>();
        foreach (Match m in PreTokenizer().Matches(text))
        {
            byte[] utf8 = Encoding.UTF8.GetBytes(m.Value);
            var mapped = new StringBuilder(utf8.Length);
            foreach (byte b in utf8) mapped.Append(ByteToChar[b]);
            ids.AddRange(Bpe(mapped.ToString()));
        }
        return ids.ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_decoder.Length || _decoder[id] is null)
                throw new ArgumentOutOfRangeException(nameof(ids), $"GPT-2 tokenizer: id {id} is not in the vocabulary (size {_decoder.Length})");
            foreach (char c in _decoder[id])
                bytes.Add(CharToByte.TryGetValue(c, out byte b) ? b : (byte)'?');
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>
    /// Encodes a batch with right padding to <paramref name="maxLength"/> (CLEFT: pad = eos, 64 for CheXpert).
    /// Longer texts are truncated. Returns ids and the attention mask (1 = real token), both row-major [B, T].
    /// </summary>
    public (int[] Ids, int[] Mask) EncodeBatch(IReadOnlyList<string> texts, int maxLength, int padId)
    {
        if (maxLength <= 0) throw new ArgumentOutOfRangeException(nameof(maxLength), $"max length must be positive, got {maxLength}");
        var ids = new int[texts.Count * maxLength];
        var mask = new int[texts.Count * maxLength];
        Array.Fill(ids, padId);
        for (int b = 0; b < texts.Count; b++)
        {
            var t = Encode(texts[b]);
            int n = Math.Min(t.Length, maxLength);
            t.AsSpan(0, n).CopyTo(ids.AsSpan(b * maxLength, n));
            mask.AsSpan(b * maxLength, n).Fill(1);
        }
        return (ids, mask);
    }

    int[] Bpe(string piece)
    {
        if (_cache.TryGetValue(piece, out var cached)) return cached;
        var parts = piece.Select(c => c.ToString()).ToList();
        while (parts.Count > 1)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < parts.Count; i++)
                if (_ranks.TryGetValue((parts[i], parts[i + 1]), out int r) && r < bestRank) { bestRank = r; best = i; }
            if (best < 0) break;
            // Merge every occurrence of the best pair, left to right, as the reference implementation does.
            var (left, right) = (parts[best], parts[best + 1]);
            var next = new List<string>(parts.Count);
            for (int i = 0; i < parts.Count; i++)
            {
                if (i + 1 < parts.Count && parts[i] == left && parts[i + 1] == right) { next.Add(left + right); i++; }
                else next.Add(parts[i]);
            }
            parts = next;
        }
        var ids = parts.Select(p => _encoder.TryGetValue(p, out int id) ? id
            : throw new InvalidDataException($"GPT-2 tokenizer: merged token '{p}' is missing from the vocabulary")).ToArray();
        if (_cache.Count < 100_000) _cache[piece] = ids;
        return ids;
    }

    /// <summary>GPT-2's reversible byte -> printable character map (printable Latin-1 bytes map to themselves).</summary>
    static char[] BuildByteMap()
    {
        var map = new char[256];
        var direct = new HashSet<int>();
        for (int b = '!'; b <= '~'; b++) direct.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) direct.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) direct.Add(b);
        int extra = 0;
        for (int b = 0; b < 256; b++) map[b] = direct.Contains(b) ? (char)b : (char)(256 + extra++);
        return map;
    }

    /// <summary>The GPT-2 stand-in character for a byte (tests and vocabulary builders use it).</summary>
    public static char ByteChar(byte b) => ByteToChar[b];

    [GeneratedRegex(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")]
    private static partial Regex PreTokenizer();
}
