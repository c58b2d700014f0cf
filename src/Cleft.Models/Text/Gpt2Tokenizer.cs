using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Cleft.Models.Text;

/// <summary>
/// GPT-2's byte-level BPE on Microsoft.ML.Tokenizers (<see cref="BpeTokenizer"/> with ByteLevel and the
/// RoBERTa/GPT-2 pre-tokenizer), loaded from the two files every GPT-2 checkpoint ships: vocab.json
/// (= encoder.json) and merges.txt (= vocab.bpe). What stays ours: the file checks that name the file and line
/// (the library's own errors name neither), the byte map tests use to build toy vocabularies, and batching.
/// </summary>
public sealed class Gpt2Tokenizer
{
    readonly BpeTokenizer _bpe;
    readonly Dictionary<string, int> _encoder;
    readonly Dictionary<int, string> _decoder = new();

    static readonly char[] ByteToChar = BuildByteMap();

    public Gpt2Tokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges)
    {
        _encoder = new Dictionary<string, int>(vocab);
        if (_encoder.Count == 0) throw new ArgumentException("GPT-2 tokenizer: the vocabulary is empty");
        if (_encoder.Values.Min() < 0) throw new ArgumentException("GPT-2 tokenizer: negative token id in the vocabulary");
        foreach (var (token, id) in _encoder)
            if (!_decoder.TryAdd(id, token)) throw new ArgumentException($"GPT-2 tokenizer: id {id} is used by '{_decoder[id]}' and '{token}'");
        VocabSize = _encoder.Values.Max() + 1;
        // Every single byte must be a token, or some inputs could not be encoded at all.
        foreach (char c in ByteToChar)
            if (!_encoder.ContainsKey(c.ToString()))
                throw new ArgumentException($"GPT-2 tokenizer: the vocabulary lacks the byte token '{c}' (U+{(int)c:X4})");
        _bpe = BpeTokenizer.Create(new BpeOptions(_encoder)
        {
            Merges = merges.Select(m => $"{m.Left} {m.Right}").ToList(),
            ByteLevel = true,
            PreTokenizer = RobertaPreTokenizer.Instance,
        });
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

    public int VocabSize { get; }

    /// <summary>The id of a token string such as "&lt;|endoftext|&gt;", or an error naming it.</summary>
    public int TokenId(string token) => _encoder.TryGetValue(token, out int id) ? id
        : throw new KeyNotFoundException($"GPT-2 tokenizer: no token '{token}' in the vocabulary");

    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _bpe.EncodeToIds(text).ToArray();
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        // The library skips ids it does not know; an id outside the vocabulary is a caller's bug, so say so.
        foreach (int id in ids)
            if (!_decoder.ContainsKey(id))
                throw new ArgumentOutOfRangeException(nameof(ids), $"GPT-2 tokenizer: id {id} is not in the vocabulary (size {VocabSize})");
        return _bpe.Decode(ids.ToArray()) ?? "";
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
}
