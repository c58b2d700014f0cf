using Cleft.Models.Text;

namespace Cleft.Models.Bert;

/// <summary>
/// BERT text towers that need no download: "bert-tiny" (64 wide, 2 layers, 4 heads; the demo's and tests' size,
/// as wide as the tiny ViT so PTUnifier's pools fit both) with a WordPiece vocabulary built here, and
/// "bert-base-uncased"'s shape (its vocabulary must come from a folder). A folder with config.json and
/// model.safetensors (vocab.txt + tokenizer_config.json) is loaded instead where a preset name is not given.
/// </summary>
public static class BertPresets
{
    public const string Tiny = "bert-tiny", BaseUncased = "bert-base-uncased";

    public static IReadOnlyList<string> Names { get; } = [Tiny, BaseUncased];

    /// <summary>
    /// bert-tiny's vocabulary: the five special tokens, every printable ASCII character alone and as a "##" piece
    /// (so any English text tokenizes without [UNK]), then whole words of chest X-ray reports and prompts (so the
    /// synthetic captions are whole-word tokens and whole-word masking has words to mask).
    /// </summary>
    public static IReadOnlyList<string> TinyVocabulary { get; } = BuildTinyVocabulary();

    static string[] BuildTinyVocabulary()
    {
        var tokens = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        var chars = Enumerable.Range('!', '~' - '!' + 1).Select(c => ((char)c).ToString()).Where(c => !char.IsUpper(c[0])).ToList();
        tokens.AddRange(chars);
        tokens.AddRange(chars.Where(c => char.IsLetterOrDigit(c[0])).Select(c => "##" + c));
        string words = "a an the this that these is are was were be of with without in on at to from for and or no not there " +
            "patient chest x ray photo image view frontal lateral ap pa left right both bilateral lung lungs heart cardiac " +
            "finding findings normal abnormal small large mild moderate severe new stable seen evidence of " +
            "atelectasis edema cardiomegaly pleural effusion consolidation pneumonia pneumothorax opacity lesion fracture " +
            "enlarged cardiomediastinum support devices other base bases upper lower lobe";
        foreach (var w in words.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (!tokens.Contains(w)) tokens.Add(w);
        return [.. tokens];
    }

    /// <summary>The preset's shape (vocab_size of bert-tiny = its built vocabulary).</summary>
    public static BertConfig Config(string name) => name switch
    {
        Tiny => new BertConfig(64, 2, 4, 256, TinyVocabulary.Count, 128, 2),
        BaseUncased => BertConfig.BertBaseUncased,
        _ => throw new ArgumentException($"'{name}' is not a BERT preset ({string.Join(", ", Names)}) nor a folder"),
    };

    /// <summary>The text source's config: a folder's config.json, else the preset's.</summary>
    public static BertConfig ConfigOf(string source) =>
        Directory.Exists(source) ? BertConfig.FromJson(Path.Combine(source, BertCheckpoint.ConfigFile)) : Config(source);

    /// <summary>The tokenizer of a text source: a folder's vocab.txt, bert-tiny's built vocabulary, else an error naming what is missing.</summary>
    public static BertWordPieceTokenizer Tokenizer(string source) =>
        Directory.Exists(source) ? BertWordPieceTokenizer.Load(source)
        : source == Tiny ? BertWordPieceTokenizer.FromTokens(TinyVocabulary, "the bert-tiny preset")
        : throw new ArgumentException($"text tower '{source}': its WordPiece vocabulary is not built in; give a Hugging Face folder with vocab.txt");
}
