using System.Text.Json;
using Cleft.Train.Metrics;

namespace Cleft.Tests.Metrics;

public sealed class RetrievalTests
{
    // images at 0°, 90°, 180°, 270° (arbitrary lengths: normalised inside); texts near 96°, at 90°, 180°, 0°
    static readonly float[] Images = [1, 0, 0, 1, -3, 0, 0, -1];
    static readonly float[] Texts = [-0.1f, 1, 0, 2, -1, 0, 1, 0];

    [Fact]
    public void RecallAtKByHand()
    {
        var r = Retrieval.Evaluate(Images, Texts, 2, ks: [1, 2, 5]);
        // image->text ranks of the paired text: i0 2 (after t3, t1), i1 0, i2 0, i3 1 (t2 and t3 tie at cos 0: t2 first)
        Assert.Equal(new Dictionary<int, double> { [1] = 0.5, [2] = 0.75, [5] = 1.0 }, r.ImageToText);
        // text->image: t0 2 (after i1, i2), t1 0, t2 0, t3 2 (after i0 at 1, and i1 tying i3 at 0 with a lower index)
        Assert.Equal(new Dictionary<int, double> { [1] = 0.5, [2] = 0.5, [5] = 1.0 }, r.TextToImage);
        Assert.Equal(4, r.Count);
    }

    [Fact]
    public void GroupsMakeEveryMemberRelevant()
    {
        // pairs 0 and 3 share a caption: for i0 and i3 either text counts, and for t0 and t3 either image
        var r = Retrieval.Evaluate(Images, Texts, 2, groups: [7, 1, 2, 7], ks: [1, 2]);
        Assert.Equal(new Dictionary<int, double> { [1] = 0.75, [2] = 1.0 }, r.ImageToText); // i3: t3 rank 1
        Assert.Equal(new Dictionary<int, double> { [1] = 0.75, [2] = 0.75 }, r.TextToImage); // t0: i0 rank 2
    }

    [Fact]
    public void TiesRankByIndexAndDefaultKs()
    {
        // eight identical pairs: every similarity ties, so item j sits at rank j for every query
        var ones = Enumerable.Repeat(1f, 8 * 3).ToArray();
        var r = Retrieval.Evaluate(ones, ones, 3);
        Assert.Equal([1, 5, 10], r.ImageToText.Keys);
        Assert.Equal([1.0 / 8, 5.0 / 8, 1.0], r.ImageToText.Values);
        Assert.Equal(r.ImageToText, r.TextToImage);
    }

    [Fact]
    public void ReportsAndErrors()
    {
        var r = Retrieval.Evaluate(Images, Texts, 2);
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(r.ToJson()));
        Assert.Equal(0.5, doc.RootElement.GetProperty("image_to_text").GetProperty("R@1").GetDouble());
        Assert.Equal(4, doc.RootElement.GetProperty("count").GetInt32());
        string md = r.ToMarkdown("Retrieval");
        Assert.Contains("| direction | R@1 | R@5 | R@10 |", md);
        Assert.Contains("| image → text | 0.5000 | 1.0000 | 1.0000 |", md);
        Assert.Contains("3 text rows for 4 image rows", Assert.Throws<ArgumentException>(() => Retrieval.Evaluate(Images, Texts[..6], 2)).Message);
        Assert.Throws<ArgumentException>(() => Retrieval.Evaluate(Images, Texts, 2, groups: [1, 2]));
        Assert.Throws<ArgumentException>(() => Retrieval.Evaluate(Images, Texts, 2, ks: [0]));
        Assert.Throws<ArgumentException>(() => Retrieval.Evaluate([1, float.NaN], [1, 0], 2));
    }
}
