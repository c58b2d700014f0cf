using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Cleft.Autograd.IO;

namespace Cleft.Tests.Peft;

/// <summary>The data hash the writer stores in __metadata__ and the reader checks, and the durable file replacement.</summary>
public sealed class SafetensorsHashTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("cleft-sth-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    string Written(string dtype = "F32")
    {
        string p = Path.Combine(_dir, $"w-{dtype}.safetensors");
        SafetensorsWriter.Write(p, [new("a", [2, 3], [1f, -2f, 3f, 0.5f, 1e-3f, 7f]), new("b", [1], [42f])], dtype);
        return p;
    }

    static long DataStart(string path) => 8 + BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path));

    [Theory]
    [InlineData("F32")]
    [InlineData("BF16")]
    public void TheWriterRecordsTheSha256OfTheDataSection(string dtype)
    {
        string p = Written(dtype);
        var bytes = File.ReadAllBytes(p);
        string expected = Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan((int)DataStart(p))));
        using var f = SafetensorsFile.Open(p);
        Assert.Equal(expected, f.Metadata[SafetensorsFile.HashKey]);
        Assert.Equal([42f], f.ReadFloats("b"));
        // Nothing but the file itself is left in the folder: the temporary was renamed over it.
        Assert.Equal([Path.GetFileName(p)], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void OneFlippedDataByteIsRefusedNamingTheFileAndBothHashes()
    {
        string p = Written();
        string recorded;
        using (var f = SafetensorsFile.Open(p)) recorded = f.Metadata[SafetensorsFile.HashKey];
        var bytes = File.ReadAllBytes(p);
        bytes[DataStart(p) + 5] ^= 0x10; // still a valid float, same size: only the hash can tell
        File.WriteAllBytes(p, bytes);
        string actual = Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan((int)DataStart(p))));
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(p));
        Assert.Contains(p, e.Message);
        Assert.Contains(recorded, e.Message);
        Assert.Contains(actual, e.Message);
    }

    [Fact]
    public void AFileWithoutTheHashStillLoads()
    {
        // As Hugging Face writes them: __metadata__ with "format" only.
        string header = """{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + 8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, h.Length);
        h.CopyTo(bytes, 8);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(8 + h.Length), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(12 + h.Length), -2f);
        string p = Path.Combine(_dir, "hf.safetensors");
        File.WriteAllBytes(p, bytes);
        using var f = SafetensorsFile.Open(p);
        Assert.False(f.Metadata.ContainsKey(SafetensorsFile.HashKey));
        Assert.Equal([1.5f, -2f], f.ReadFloats("x"));
    }

    [Fact]
    public void TheHashKeyIsReservedForTheWriter()
    {
        var e = Assert.Throws<ArgumentException>(() => SafetensorsWriter.Write(Path.Combine(_dir, "r.safetensors"), [new("a", [1], [1f])],
            metadata: new Dictionary<string, string> { [SafetensorsFile.HashKey] = "0" }));
        Assert.Contains("reserved", e.Message);
    }

    [Fact]
    public void AFailedDurableWriteKeepsTheOldFileAndLeavesNoTemporary()
    {
        string p = Path.Combine(_dir, "state.json");
        DurableFile.WriteAllText(p, "old");
        Assert.Throws<IOException>(() => DurableFile.Write(p, s => { s.Write("new, half"u8); throw new IOException("disk gone"); }));
        Assert.Equal("old", File.ReadAllText(p));
        Assert.Equal(["state.json"], Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName));
        DurableFile.WriteAllText(p, "new");
        Assert.Equal("new", File.ReadAllText(p));
        DurableFile.SyncDirectory(_dir); // does not throw on an ordinary folder
    }
}
