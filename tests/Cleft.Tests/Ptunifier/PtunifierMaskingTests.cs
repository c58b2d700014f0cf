using Cleft.Autograd;
using Cleft.Models.PTUnifier;

namespace Cleft.Tests.Ptunifier;

/// <summary>Whole-word masking: words stay whole, [CLS]/[SEP]/[PAD] never masked, the budget and the 80/10/10 split hold.</summary>
public sealed class PtunifierMaskingTests
{
    [Fact]
    public void MasksWholeWordsWithinTheBudget()
    {
        var tok = PtunifierFixture.Tokenizer;
        // "cardiomegaly" is a whole-word token; "zq" and "xylophone" are not in bert-tiny's words, so they split into "##" pieces.
        string[] captions = ["xylophone cardiomegaly zq edema in the left lung base", "no finding", "pleural effusion and xylophone"];
        var (ids, mask, _) = tok.EncodeBatch(captions, 24);
        int wordsPieces = ids.Count(i => tok.Tokens[i].StartsWith("##", StringComparison.Ordinal));
        Assert.True(wordsPieces > 5, "the test needs words split into pieces");
        int masked = 0, total = 0;
        for (ulong seed = 0; seed < 200; seed++)
        {
            var m = WholeWordMasking.Apply(ids, mask, 3, 24, tok.Tokens, tok.MaskId, 0.15f, new Rng(seed));
            Assert.Equal(m.Positions.Select(p => ids[p]), m.Targets);
            var chosen = m.Positions.ToHashSet();
            for (int b = 0; b < 3; b++)
            {
                int real = mask.Skip(b * 24).Take(24).Sum();
                Assert.DoesNotContain(b * 24, chosen);                   // [CLS]
                Assert.DoesNotContain(b * 24 + real - 1, chosen);        // [SEP]
                Assert.DoesNotContain(chosen, p => p / 24 == b && p % 24 >= real);
                int mine = chosen.Count(p => p / 24 == b);
                Assert.InRange(mine, 1, Math.Max(1, (int)Math.Round(0.15 * (real - 2))));
                // A "##" piece is chosen exactly when the token before it is.
                for (int t = 2; t < real - 1; t++)
                    if (tok.Tokens[ids[b * 24 + t]].StartsWith("##", StringComparison.Ordinal))
                        Assert.Equal(chosen.Contains(b * 24 + t - 1), chosen.Contains(b * 24 + t));
            }
            foreach (int p in m.Positions) { total++; if (m.Ids[p] == tok.MaskId) masked++; }
            for (int p = 0; p < ids.Length; p++) if (!chosen.Contains(p)) Assert.Equal(ids[p], m.Ids[p]);
        }
        double share = (double)masked / total;
        Assert.InRange(share, 0.72, 0.88);
    }
}
