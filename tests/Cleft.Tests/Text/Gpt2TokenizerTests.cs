using System.Runtime.CompilerServices;
using System.Text.Json;
using Cleft.Models.Text;

namespace Cleft.Tests.Text;

public sealed class Gpt2TokenizerTests
{
    // A tiny vocabulary: the 256 byte tokens, then merged tokens in rank order.
    static Gpt2Tokenizer Tiny(params (string, string)[] merges)
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[Gpt2Tokenizer.ByteChar((byte)b).ToString()] = b;
        foreach (var (l, r) in merges) vocab.TryAdd(l + r, vocab.Count);
        vocab["<|endoftext|>"] = vocab.Count;
        return new Gpt2Tokenizer(vocab, merges);
    }

    static string G(string s) => s.Replace(' ', Gpt2Tokenizer.ByteChar((byte)' '));

    [Fact]
    public void MergesApplyByRankNotByPosition()
    {
        // "abc": (b,c) outranks (a,b), so the result is a + bc even though a,b comes first.
        var t = Tiny(("b", "c"), ("a", "b"));
        var ids = t.Encode("abc");
        Assert.Equal(["a", "bc"], ids.Select(i => t.Decode([i])));
        var t2 = Tiny(("a", "b"), ("b", "c"));
        Assert.Equal(["ab", "c"], t2.Encode("abc").Select(i => t2.Decode([i])));
    }

    [Fact]
    public void SpacesAttachToTheFollowingWordAndMergeThroughTheByteMap()
    {
        var t = Tiny((G(" "), "w"), (G(" w"), "o"));
        var ids = t.Encode("a wo");
        Assert.Equal(["a", " wo"], ids.Select(i => t.Decode([i])));
    }

    [Theory]
    [InlineData("plain ascii, with punctuation!")]
    [InlineData("unicode: café 東京 🩻 \t tabs\nnewlines   ")]
    [InlineData("")]
    public void DecodeInvertsEncodeForAnyText(string text)
    {
        var t = Tiny(("t", "h"), ("th", "e"));
        Assert.Equal(text, t.Decode(t.Encode(text)));
    }

    [Fact]
    public void BatchesPadRightTruncateAndMask()
    {
        var t = Tiny();
        int pad = t.TokenId("<|endoftext|>");
        var (ids, mask) = t.EncodeBatch(["ab", "abcdef"], 4, pad);
        // Byte tokens of the tiny vocabulary have the byte's value as id: 'a' = 97.
        Assert.Equal(new[] { 97, 98, pad, pad, 97, 98, 99, 100 }, ids);
        Assert.Equal(new[] { 1, 1, 0, 0, 1, 1, 1, 1 }, mask);
    }

    [Fact]
    public void BadFilesAreNamedWithTheProblem()
    {
        string dir = Directory.CreateTempSubdirectory("cleft-tok-").FullName;
        try
        {
            string vocab = Path.Combine(dir, "vocab.json"), merges = Path.Combine(dir, "merges.txt");
            File.WriteAllText(vocab, "[1, 2]");
            File.WriteAllText(merges, "#version: 0.2\na b\n");
            var e1 = Assert.Throws<InvalidDataException>(() => Gpt2Tokenizer.Load(vocab, merges));
            Assert.Contains(vocab, e1.Message);

            File.WriteAllText(vocab, JsonSerializer.Serialize(new Dictionary<string, int> { ["a"] = 0 }));
            var e2 = Assert.Throws<InvalidDataException>(() => Gpt2Tokenizer.Load(vocab, merges));
            Assert.Contains("lacks the byte token", e2.Message);

            var full = new Dictionary<string, int>();
            for (int b = 0; b < 256; b++) full[Gpt2Tokenizer.ByteChar((byte)b).ToString()] = b;
            File.WriteAllText(vocab, JsonSerializer.Serialize(full));
            File.WriteAllText(merges, "#version: 0.2\na b\nthree parts here\n");
            var e3 = Assert.Throws<InvalidDataException>(() => Gpt2Tokenizer.Load(vocab, merges));
            Assert.Contains($"{merges}:3", e3.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void UnknownIdsAndTokensAreRejected()
    {
        var t = Tiny();
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode([100_000]));
        Assert.Throws<KeyNotFoundException>(() => t.TokenId("<|pad|>"));
    }

    sealed record Golden(string source, List<GoldenCase> cases);
    sealed record GoldenCase(string text, int[] ids);

    /// <summary>
    /// The real GPT-2 vocabulary (50,257 tokens, 50,000 merges, installed by scripts/install-gpt2-vocab.sh)
    /// against ids from the JavaScript reference encoder (tests/fixtures/generators/gpt2_tokenizer_golden.js).
    /// </summary>
    [SkippableFact]
    public void RealGpt2VocabularyMatchesTheReferenceEncoder()
    {
        string dir = Environment.GetEnvironmentVariable("CLEFT_GPT2_VOCAB") ?? Path.Combine(RepoRoot(), ".tools", "gpt2-vocab");
        string vocab = Path.Combine(dir, "encoder.json"), merges = Path.Combine(dir, "vocab.bpe");
        if (!File.Exists(vocab) || !File.Exists(merges))
        {
            string why = $"GPT-2 vocabulary not found in {dir}; run scripts/install-gpt2-vocab.sh";
            if (Environment.GetEnvironmentVariable("CLEFT_REQUIRE_GPT2_VOCAB") == "1") Assert.Fail(why + " (CLEFT_REQUIRE_GPT2_VOCAB=1)");
            Skip.If(true, why);
        }
        var t = Gpt2Tokenizer.Load(vocab, merges);
        Assert.Equal(50257, t.VocabSize);
        Assert.Equal(50256, t.TokenId("<|endoftext|>"));
        var golden = JsonSerializer.Deserialize<Golden>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt2_tokenizer_golden.json")))!;
        foreach (var c in golden.cases)
        {
            Assert.True(c.ids.SequenceEqual(t.Encode(c.text)), $"'{c.text}': expected [{string.Join(",", c.ids)}], got [{string.Join(",", t.Encode(c.text))}]");
            Assert.Equal(c.text, t.Decode(c.ids));
        }
    }

    /// <summary>The BPE bundled with Microsoft.ML.Tokenizers (what presets use) gives the reference encoder's ids too.</summary>
    [Fact]
    public void BundledGpt2TokenizerMatchesTheReferenceEncoder()
    {
        var golden = JsonSerializer.Deserialize<Golden>(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "gpt2_tokenizer_golden.json")))!;
        foreach (var c in golden.cases)
            Assert.True(c.ids.SequenceEqual(BundledGpt2Tokenizer.Encode(c.text)),
                $"'{c.text}': expected [{string.Join(",", c.ids)}], got [{string.Join(",", BundledGpt2Tokenizer.Encode(c.text))}]");
    }

    static string RepoRoot([CallerFilePath] string here = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", ".."));
}
