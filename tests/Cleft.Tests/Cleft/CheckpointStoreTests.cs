using Cleft.Models.Recipe;
using Cleft.Train.Training;
using Cleft.Tests.Gpt2;

namespace Cleft.Tests.Recipe;

/// <summary>Retention (top-2 by validation loss + last) and crash safety of the checkpoint directory.</summary>
public sealed class CheckpointStoreTests
{
    static void Content(string dir) => File.WriteAllText(Path.Combine(dir, "w.bin"), "weights");

    [Fact]
    public void KeepsTheTwoBestAndTheLast()
    {
        using var dir = new Gpt2Fixture.TempDir();
        var store = new CheckpointStore(dir, keepBest: 2);
        float[] val = [3f, 1f, 2f, 0.5f, 4f];
        for (int i = 0; i < val.Length; i++) store.Save((i + 1) * 10, 1e-3f, val[i], null, Content);
        // best: step 40 (0.5), step 20 (1.0); last: step 50.
        Assert.Equal(["step-00000020", "step-00000040", "step-00000050"], store.Entries.Select(e => e.Name).Order());
        Assert.Equal(["checkpoints.json", "step-00000020", "step-00000040", "step-00000050"],
            Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order());
        var reopened = new CheckpointStore(dir);
        Assert.Equal(50, reopened.Last!.Step);
        Assert.Equal(40, reopened.Best!.Step);
    }

    [Fact]
    public void AKilledSaveLeavesThePreviousCheckpointAndNoDebris()
    {
        using var dir = new Gpt2Fixture.TempDir();
        var store = new CheckpointStore(dir);
        string first = store.Save(1, 1e-3f, 1f, null, Content);
        // A save that dies half-way (an exception stands in for the kill) and a temporary left by a real kill.
        Assert.Throws<IOException>(() => store.Save(2, 1e-3f, 0.5f, null, d => { Content(d); throw new IOException("disk gone"); }));
        Directory.CreateDirectory(Path.Combine(dir, ".tmp-step-00000003-dead"));
        var reopened = new CheckpointStore(dir);
        Assert.Equal(first, reopened.PathOf(reopened.Last!));
        Assert.Equal("weights", File.ReadAllText(Path.Combine(first, "w.bin")));
        Assert.Equal(["checkpoints.json", "step-00000001"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order());
    }
}
