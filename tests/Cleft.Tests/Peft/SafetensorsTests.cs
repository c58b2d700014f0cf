using System.Buffers.Binary;
using System.Text;
using Cleft.Autograd.IO;

namespace Cleft.Tests.Peft;

/// <summary>The safetensors reader/writer: round trips in F32, F16 and BF16, and every hostile header refused with the file named.</summary>
public sealed class SafetensorsTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("cleft-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("F32")]
    [InlineData("F16")]
    [InlineData("BF16")]
    public void RoundTrip(string dtype)
    {
        string p = Path.Combine(_dir, "a.safetensors");
        float[] a = [1f, -2.5f, 0.1f, 3f, 65504f, -0.0001f], b = [7f];
        SafetensorsWriter.Write(p, [new("a", [2, 3], a), new("b", [], b)], dtype, new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafetensorsFile.Open(p);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal([2, 3], f.Entries["a"].Shape);
        Assert.Equal(dtype, f.Entries["a"].Dtype);
        var want = dtype switch
        {
            "F32" => a,
            "F16" => a.Select(v => (float)(Half)v).ToArray(),
            _ => a.Select(v => BFloat16.ToSingle(BFloat16.FromSingle(v))).ToArray(),
        };
        Assert.Equal(want, f.ReadFloats("a"));
        Assert.Equal(b, f.ReadFloats("b"));
        Assert.Equal(0, (8 + BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(p))) % 8);
    }

    string Raw(string header, int dataBytes, long? declared = null) => Raw(Encoding.UTF8.GetBytes(header), new byte[dataBytes], declared);

    string Raw(byte[] header, byte[] data, long? declared = null)
    {
        string p = Path.Combine(_dir, $"bad{Guid.NewGuid():N}.safetensors");
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, declared ?? header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
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
    [InlineData("""{"__metadata__":["pt"]}""", 0, "__metadata__ must be an object")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12, "gap of 4 bytes between tensors 'a' (ends at 4) and 'b'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "must start with a tensor at byte 0")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 7, "3 unaccounted bytes")]
    [InlineData("""{}""", 1, "1 unaccounted bytes")]
    [InlineData("""{"\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 4, "invalid string")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1e10],"data_offsets":[0,4]}}""", 4, "32-bit integers")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", 4, "32-bit integers")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}""", 4, "must be integers")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0e0]}}""", 4, "must be integers")]
    [InlineData("""{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}""", 4, "missing string 'dtype'")]
    [InlineData("""{"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}""", 4, "missing array 'shape'")]
    [InlineData("""{"a":[1]}""", 4, "entry must be an object")]
    public void HostileHeadersAreRefusedNamingTheFile(string header, int dataBytes, string expect)
    {
        string p = Raw(header, dataBytes);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(p).Dispose());
        Assert.Contains(p, e.Message);
        Assert.Contains(expect, e.Message);
    }

    [Fact]
    public void InvalidUtf8InTheHeaderIsRefusedNamingTheFile()
    {
        // A tensor name holding a lone continuation byte: System.Text.Json only notices when the name is read.
        var header = Encoding.UTF8.GetBytes("""{"a?":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""");
        header[3] = 0x80;
        string p = Raw(header, new byte[4]);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(p).Dispose());
        Assert.Contains(p, e.Message);
        Assert.Contains("not valid UTF-8", e.Message);
    }

    [Fact]
    public void ContiguousTensorsInAnyHeaderOrderAndZeroSizedOnesAreAccepted()
    {
        var data = new byte[12];
        BinaryPrimitives.WriteSingleLittleEndian(data, 1f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), 2f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(8), 3f);
        string p = Raw(Encoding.UTF8.GetBytes("""
            {"c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},
             "a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}
            """), data);
        using var f = SafetensorsFile.Open(p);
        Assert.Equal([1f], f.ReadFloats("a"));
        Assert.Equal([2f], f.ReadFloats("b"));
        Assert.Equal([3f], f.ReadFloats("c"));
        Assert.Empty(f.ReadFloats("e"));
    }

    [Fact]
    public void IntegersReadAsFloatOnlyWhenExact()
    {
        // long.MaxValue rounds to 2^63 as a float, and float -> long saturates back to long.MaxValue: must still fail.
        foreach (long v in new[] { long.MaxValue, (1L << 24) + 1 })
        {
            var data = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(data, v);
            string p = Raw(Encoding.UTF8.GetBytes("""{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"""), data);
            using var f = SafetensorsFile.Open(p);
            Assert.Equal([v], f.ReadLongs("n"));
            var e = Assert.Throws<InvalidDataException>(() => f.ReadFloats("n"));
            Assert.Contains(p, e.Message);
            Assert.Contains($"value {v} at index 0 is not exactly representable", e.Message);
        }
        var min = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(min, long.MinValue);
        using var g = SafetensorsFile.Open(Raw(Encoding.UTF8.GetBytes("""{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"""), min));
        Assert.Equal([-9.223372e18f], g.ReadFloats("n"));
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
