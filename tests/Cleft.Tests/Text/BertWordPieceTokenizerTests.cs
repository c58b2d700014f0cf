using System.Text.Json;
using Cleft.Models.Text;

namespace Cleft.Tests.Text;

public sealed class BertWordPieceTokenizerTests
{
    static string Folder => Path.Combine(AppContext.BaseDirectory, "Fixtures", "bert_tiny");

    sealed record Golden(string source, int vocab_size, Dictionary<string, GoldenConfig> configs, List<GoldenCase> cases);
    sealed record GoldenConfig(bool do_lower_case, bool? strip_accents);
    sealed record GoldenCase(string config, string text, int[] ids);

    /// <summary>
    /// Ids from HF's BertTokenizer algorithm written out in tests/fixtures/generators/bert_wordpiece.py, for
    /// lower-casing on/off and accent stripping unset/on/off, on a 234-token vocabulary with ## pieces,
    /// punctuation, accented and CJK words and [UNK] cases.
    /// </summary>
    [Fact]
    public void IdsMatchTheReferenceAlgorithmForEveryCasingAndAccentSetting()
    {
        var golden = JsonSerializer.Deserialize<Golden>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "bert_tokenizer_golden.json")))!;
        Assert.Equal(4, golden.configs.Count);
        foreach (var (name, cfg) in golden.configs)
        {
            var t = BertWordPieceTokenizer.Create(Path.Combine(Folder, "vocab.txt"), cfg.do_lower_case, cfg.strip_accents);
            Assert.Equal(golden.vocab_size, t.VocabSize);
            foreach (var c in golden.cases.Where(c => c.config == name))
            {
                var got = t.Encode(c.text);
                Assert.True(c.ids.SequenceEqual(got), $"{name} '{c.text}': expected [{string.Join(",", c.ids)}], got [{string.Join(",", got)}]");
            }
        }
    }

    [Fact]
    public void FolderLoadReadsCasingFromTokenizerConfig()
    {
        var t = BertWordPieceTokenizer.Load(Folder);
        Assert.True(t.DoLowerCase);
        Assert.True(t.StripAccents);   // strip_accents null + do_lower_case: HF strips
        Assert.Equal(t.Encode("cafe"), t.Encode("CAFÉ"));
    }

    [Fact]
    public void BatchesAddSpecialTokensTruncateAndPad()
    {
        var t = BertWordPieceTokenizer.Load(Folder);
        var one = t.Encode("no acute process");                   // [CLS] no acute process [SEP]
        Assert.Equal(5, one.Length);
        var (ids, mask, types) = t.EncodeBatch(["no acute process", "no acute process"], 7);
        Assert.Equal([.. one, t.PadId, t.PadId], ids[..7]);
        Assert.Equal(new[] { 1, 1, 1, 1, 1, 0, 0 }, mask[..7]);
        var (cut, cutMask, _) = t.EncodeBatch(["no acute process"], 4);
        Assert.Equal(new[] { t.ClsId, one[1], one[2], t.SepId }, cut);    // truncated before [SEP], never [SEP] dropped
        Assert.Equal(new[] { 1, 1, 1, 1 }, cutMask);
        Assert.All(types, v => Assert.Equal(0, v));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.EncodeBatch(["x"], 1));
    }

    [Fact]
    public void BadFilesAreNamedWithTheProblem()
    {
        string dir = Directory.CreateTempSubdirectory("cleft-bert-tok-").FullName;
        try
        {
            var e0 = Assert.Throws<FileNotFoundException>(() => BertWordPieceTokenizer.Load(dir));
            Assert.Contains("vocab.txt", e0.Message);
            string vocab = Path.Combine(dir, "vocab.txt");
            File.WriteAllText(vocab, "[PAD]\n[UNK]\nhello\n");
            var e1 = Assert.Throws<InvalidDataException>(() => BertWordPieceTokenizer.Load(dir));
            Assert.Contains(vocab, e1.Message);
            Assert.Contains("[CLS]", e1.Message);
            File.WriteAllText(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n");
            string config = Path.Combine(dir, "tokenizer_config.json");
            File.WriteAllText(config, "{\"do_lower_case\": \"yes\"}");
            var e2 = Assert.Throws<InvalidDataException>(() => BertWordPieceTokenizer.Load(dir));
            Assert.Contains(config, e2.Message);
            Assert.Contains("do_lower_case", e2.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
