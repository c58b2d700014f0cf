using System.Buffers.Binary;
using System.Text;
using Cleft.Autograd.IO;

namespace Cleft.Tests.Peft;

/// <summary>The safetensors reader/writer: round trips in F32 and F16, and every hostile header refused with the file named.</summary>
public sealed class SafetensorsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("cleft-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("F32")]
    [InlineData("F16")]
    public void RoundTrip(string dtype)
    {
        string p = Path.Combine(_dir, "a.safetensors");
        float[] a = [1f, -2.5f, 0.1f, 3f, 65504f, -0.0001f], b = [7f];
        SafetensorsWriter.Write(p, [new("a", [2, 3], a), new("b", [], b)], dtype, new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafetensorsFile.Open(p);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal([2, 3], f.Entries["a"].Shape);
        Assert.Equal(dtype, f.Entries["a"].Dtype);
        var want = dtype == "F32" ? a : a.Select(v => (float)(Half)v).ToArray();
        Assert.Equal(want, f.ReadFloats("a"));
        Assert.Equal(b, f.ReadFloats("b"));
        Assert.Equal(0, (8 + BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(p))) % 8);
    }

    string Raw(string header, int dataBytes, long? declared = null)
    {
        string p = Path.Combine(_dir, $"bad{Guid.NewGuid():N}.safetensors");
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, declared ?? h.Length);
        h.CopyTo(bytes, 8);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 4, "past the")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "needs 3 x 4")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "overlap")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "twice")]
    [InlineData("""{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}""", 4, "unknown dtype")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "non-negative")]
    [InlineData("""{"a":{"dtype":"F32","shape":[65536,65536,65536,65536],"data_offsets":[0,4]}}""", 4, "overflows")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", 8, "begin <= end")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":["0",4]}}""", 8, "data_offsets")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1]}}""", 4, "data_offsets")]
    [InlineData("""[1,2]""", 0, "JSON object")]
    [InlineData("""{"a":""", 0, "not valid JSON")]
    [InlineData("""{"__metadata__":{"k":1}}""", 0, "not a string")]
    public void HostileHeadersAreRefusedNamingTheFile(string header, int dataBytes, string expect)
    {
        string p = Raw(header, dataBytes);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(p).Dispose());
        Assert.Contains(p, e.Message);
        Assert.Contains(expect, e.Message);
    }

    [Fact]
    public void HeaderLengthBeyondTheFileOrTinyFilesAreRefused()
    {
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(Raw("{}", 0, declared: long.MaxValue)).Dispose());
        Assert.Contains("exceeds", e.Message);
        string tiny = Path.Combine(_dir, "tiny.safetensors");
        File.WriteAllBytes(tiny, [1, 2, 3]);
        Assert.Contains("shorter", Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(tiny).Dispose()).Message);
    }
}
