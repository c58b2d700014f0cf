using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Cleft.Models.Text;

/// <summary>
/// BERT's WordPiece tokenizer (HF BertTokenizer) on Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>: basic
/// tokenization (cleaning, CJK split, punctuation split), optional lower-casing and accent stripping, greedy
/// longest-match WordPiece with "##" continuations, then [CLS] ... [SEP]. Loaded from a model folder's vocab.txt
/// and tokenizer_config.json (do_lower_case, strip_accents, tokenize_chinese_chars with HF's defaults).
/// </summary>
public sealed partial class BertWordPieceTokenizer
{
    readonly BertTokenizer _bert;

    BertWordPieceTokenizer(BertTokenizer bert, string[] tokens, bool doLowerCase, bool stripAccents)
    {
        _bert = bert;
        Tokens = tokens;
        DoLowerCase = doLowerCase;
        StripAccents = stripAccents;
    }

    public int VocabSize => Tokens.Count;
    /// <summary>The vocabulary by id (MLM's whole-word masking reads the "##" continuations from it).</summary>
    public IReadOnlyList<string> Tokens { get; }
    public int MaskId => _bert.MaskingTokenId;
    public bool DoLowerCase { get; }
    /// <summary>The effective setting: HF strips accents when strip_accents is true, or unset with do_lower_case.</summary>
    public bool StripAccents { get; }
    public int ClsId => _bert.ClassificationTokenId;
    public int SepId => _bert.SeparatorTokenId;
    public int PadId => _bert.PaddingTokenId;

    static readonly string[] Required = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    /// <summary>
    /// From a vocab.txt (one token per line, id = line number). <paramref name="stripAccents"/> null means HF's
    /// default: strip when lower-casing.
    /// </summary>
    public static BertWordPieceTokenizer Create(string vocabPath, bool doLowerCase = true, bool? stripAccents = null, bool tokenizeChineseChars = true)
    {
        string[] lines;
        try { lines = File.ReadAllLines(vocabPath); }
        catch (IOException e) { throw new InvalidDataException($"{vocabPath}: cannot read the BERT vocabulary: {e.Message}", e); }
        // ReadAllLines splits \n, \r\n and \r and leaves no extra line for a trailing newline, as HF's load_vocab.
        return FromTokens(lines, vocabPath, doLowerCase, stripAccents, tokenizeChineseChars);
    }

    /// <summary>
    /// From a vocabulary held in memory (id = index), e.g. a preset built in code; <paramref name="source"/> names
    /// it in errors.
    /// </summary>
    public static BertWordPieceTokenizer FromTokens(IReadOnlyList<string> vocab, string source, bool doLowerCase = true, bool? stripAccents = null,
        bool tokenizeChineseChars = true)
    {
        ArgumentNullException.ThrowIfNull(vocab);
        string[] lines = [.. vocab];
        if (lines.Length == 0) throw new InvalidDataException($"{source}: the BERT vocabulary is empty");
        var tokens = lines.ToHashSet(StringComparer.Ordinal);
        var missing = Required.Where(t => !tokens.Contains(t)).ToList();
        if (missing.Count > 0) throw new InvalidDataException($"{source}: the BERT vocabulary lacks {string.Join(", ", missing)}");
        bool strip = stripAccents ?? doLowerCase;
        var special = Required.ToDictionary(t => t, t => Array.IndexOf(lines, t));
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));
        var bert = BertTokenizer.Create(stream, new BertOptions
        {
            PreTokenizer = new RegexPreTokenizer(HfWordOrPunctuation(), special),
            LowerCaseBeforeTokenization = doLowerCase,
            RemoveNonSpacingMarks = strip,
            IndividuallyTokenizeCjk = tokenizeChineseChars,
            ApplyBasicTokenization = true,
        });
        return new BertWordPieceTokenizer(bert, lines, doLowerCase, strip);
    }

    /// <summary>Loads a Hugging Face model folder: vocab.txt, plus tokenizer_config.json when present.</summary>
    public static BertWordPieceTokenizer Load(string folder)
    {
        string vocab = Path.Combine(folder, "vocab.txt"), config = Path.Combine(folder, "tokenizer_config.json");
        if (!File.Exists(vocab)) throw new FileNotFoundException($"{folder}: no vocab.txt (a BERT model folder needs its WordPiece vocabulary)", vocab);
        if (!File.Exists(config)) return Create(vocab);
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(config)) as JsonObject ?? throw new InvalidDataException("expected a JSON object"); }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{config}: not a tokenizer config: {e.Message}", e);
        }
        return Create(vocab, Flag(o, "do_lower_case", config) ?? true, Flag(o, "strip_accents", config), Flag(o, "tokenize_chinese_chars", config) ?? true);
    }

    static bool? Flag(JsonObject o, string key, string source) => o[key] switch
    {
        null => null,
        var v when v.GetValueKind() == JsonValueKind.True => true,
        var v when v.GetValueKind() == JsonValueKind.False => false,
        var v => throw new InvalidDataException($"{source}: '{key}' must be true, false or null, got {v.ToJsonString()}"),
    };

    /// <summary>
    /// HF's punctuation split: ASCII symbols and every \p{P} character stand alone, any other run of non-space
    /// characters is a word. The library's default (\w+|\p{P}) differs: it drops symbols outside \p{P}
    /// (+ &lt; = &gt; $ ^ ` | ~ €, emoji) and glues '_' to the letters around it, where HF keeps them as tokens.
    /// </summary>
    [GeneratedRegex(@"[^\s!-/:-@\[-`{-~\p{P}]+|[!-/:-@\[-`{-~\p{P}]")]
    private static partial Regex HfWordOrPunctuation();

    /// <summary>
    /// HF's _clean_text, done here because the library's normalizer differs: it drops \t \n \r as controls
    /// (gluing "a\tb" into "ab") and keeps U+0000 and format characters such as U+200B inside words (making them
    /// [UNK]). HF drops U+0000, U+FFFD and every category C* character except \t \n \r, and turns those three
    /// and every Zs space into ' '.
    /// </summary>
    static string HfClean(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value is '\t' or '\n' or '\r') { sb.Append(' '); continue; }
            var cat = Rune.GetUnicodeCategory(rune);
            if (rune.Value is 0 or 0xFFFD || cat is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned) continue;
            if (cat == UnicodeCategory.SpaceSeparator) sb.Append(' ');
            else sb.Append(rune.ToString());
        }
        return sb.ToString();
    }

    /// <summary>[CLS] + WordPiece ids + [SEP], untruncated.</summary>
    public int[] Encode(string text)
    {
        return _bert.EncodeToIds(HfClean(text), addSpecialTokens: true).ToArray();
    }

    public string Decode(IEnumerable<int> ids) => _bert.Decode(ids) ?? "";

    /// <summary>
    /// Encodes a batch as HF does with padding="max_length", truncation=True: [CLS] + at most maxLength - 2 pieces
    /// + [SEP], right-padded with [PAD]. Returns row-major [B, maxLength] ids, attention mask (1 = real token) and
    /// token type ids (all 0: one segment per text).
    /// </summary>
    public (int[] Ids, int[] Mask, int[] TokenTypes) EncodeBatch(IReadOnlyList<string> texts, int maxLength)
    {
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), $"BERT max length must leave room for [CLS] and [SEP], got {maxLength}");
        var ids = new int[texts.Count * maxLength];
        var mask = new int[texts.Count * maxLength];
        Array.Fill(ids, PadId);
        for (int b = 0; b < texts.Count; b++)
        {
            var pieces = _bert.EncodeToIds(HfClean(texts[b]), addSpecialTokens: false);
            int n = Math.Min(pieces.Count, maxLength - 2);
            var row = ids.AsSpan(b * maxLength, maxLength);
            row[0] = ClsId;
            for (int i = 0; i < n; i++) row[1 + i] = pieces[i];
            row[1 + n] = SepId;
            mask.AsSpan(b * maxLength, n + 2).Fill(1);
        }
        return (ids, mask, new int[texts.Count * maxLength]);
    }
}
