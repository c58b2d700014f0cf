using System.Buffers.Binary;
using System.Text.Json;
using Cleft.Autograd.IO;

namespace Cleft.Tests.Peft;

/// <summary>
/// A file written by tests/fixtures/generators/safetensors_torch.py (torch's own BF16/F16/I64/I32 conversions,
/// data laid out in another order than the header's keys) read back, and our BF16 writer against torch's rounding.
/// </summary>
public sealed class SafetensorsTorchTests : IDisposable
{
    sealed record Expected(int[] bf16_source_bits, short[] bf16_of_source_bits, int[] bf16_of_source_as_f32_bits,
        int[][] bf16_matrix_as_f32_bits, int[] f16_vector_as_f32_bits, long[] i64_ids, long[] i64_big, int[] i32_vector);

    static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures", "safetensors_torch");
    static readonly Expected Want = JsonSerializer.Deserialize<Expected>(File.ReadAllText(Path.Combine(Dir, "expected.json")))!;
    readonly SafetensorsFile _file = SafetensorsFile.Open(Path.Combine(Dir, "mixed.safetensors"));
    readonly string _tmp = Directory.CreateTempSubdirectory("cleft-st-torch-").FullName;

    public void Dispose()
    {
        _file.Dispose();
        Directory.Delete(_tmp, true);
    }

    static float[] Floats(IEnumerable<int> bits) => bits.Select(BitConverter.Int32BitsToSingle).ToArray();

    [Fact]
    public void ReadsEveryDtypeTorchWrote()
    {
        Assert.Equal("pt", _file.Metadata["format"]);
        Assert.Equal("BF16", _file.Entries["bf16_matrix"].Dtype);
        Assert.Equal([2, 3], _file.Entries["bf16_matrix"].Shape);
        Assert.Equal(Floats(Want.bf16_of_source_as_f32_bits), _file.ReadFloats("bf16_of_source"));
        Assert.Equal(Floats(Want.bf16_matrix_as_f32_bits.SelectMany(r => r)), _file.ReadFloats("bf16_matrix"));
        Assert.Equal(Floats(Want.f16_vector_as_f32_bits), _file.ReadFloats("f16_vector"));
        Assert.Equal(Floats(Want.bf16_source_bits), _file.ReadFloats("source_f32"));
        Assert.Equal([2.5f], _file.ReadFloats("scalar_f32"));
        Assert.Equal([0, 4], _file.Entries["empty_f32"].Shape);
        Assert.Empty(_file.ReadFloats("empty_f32"));
    }

    [Fact]
    public void IntegerTensorsReadAsIntegersAndAsFloatsOnlyWhenExact()
    {
        Assert.Equal(Want.i64_ids, _file.ReadLongs("i64_ids"));
        Assert.Equal(Want.i64_ids.Select(v => (int)v), _file.ReadInts("i64_ids"));
        Assert.Equal(Want.i64_ids.Select(v => (float)v), _file.ReadFloats("i64_ids"));
        Assert.Equal(Want.i64_big, _file.ReadLongs("i64_big"));
        Assert.Equal(Want.i32_vector, _file.ReadInts("i32_vector"));
        Assert.Equal(Want.i32_vector.Select(v => (long)v), _file.ReadLongs("i32_vector"));

        string path = _file.Path;
        var e = Assert.Throws<InvalidDataException>(() => _file.ReadFloats("i64_big"));
        Assert.Contains(path, e.Message);
        Assert.Contains($"value {Want.i64_big[0]} at index 0 is not exactly representable as float32", e.Message);
        // 2^31 - 1 needs 31 significant bits; a float keeps 24.
        Assert.Contains("not exactly representable", Assert.Throws<InvalidDataException>(() => _file.ReadFloats("i32_vector")).Message);
        Assert.Contains("does not fit in int32", Assert.Throws<InvalidDataException>(() => _file.ReadInts("i64_big")).Message);
        Assert.Contains("dtype F32, which does not convert to int64", Assert.Throws<InvalidDataException>(() => _file.ReadLongs("source_f32")).Message);
        Assert.Contains("dtype BF16, which does not convert to int32", Assert.Throws<InvalidDataException>(() => _file.ReadInts("bf16_matrix")).Message);
    }

    /// <summary>
    /// Torch's rounding on ties, overflow to infinity, subnormals and signed zero, bit for bit. NaN only as NaN:
    /// torch's vectorised CPU path writes 0xFFFF and its scalar path 0x7FC0; both are NaN.
    /// </summary>
    [Fact]
    public void Bf16WriterRoundsLikeTorch()
    {
        var source = _file.ReadFloats("source_f32");
        string p = Path.Combine(_tmp, "bf16.safetensors");
        SafetensorsWriter.Write(p, [new("x", [source.Length], source)], "BF16");
        using var f = SafetensorsFile.Open(p);
        var raw = File.ReadAllBytes(p).AsSpan((int)f.Entries["x"].Offset);
        Assert.Equal(source.Length * 2, raw.Length);
        for (int i = 0; i < source.Length; i++)
        {
            ushort ours = BinaryPrimitives.ReadUInt16LittleEndian(raw[(i * 2)..]), torch = (ushort)Want.bf16_of_source_bits[i];
            Assert.Equal(ours, BFloat16.FromSingle(source[i]));
            if (float.IsNaN(source[i])) Assert.True(float.IsNaN(BFloat16.ToSingle(ours)) && float.IsNaN(BFloat16.ToSingle(torch)), $"index {i}");
            else Assert.True(ours == torch, $"index {i}: {source[i]:R} -> 0x{ours:X4}, torch 0x{torch:X4}");
        }
        Assert.Equal(0x7FC0, BFloat16.FromSingle(float.NaN));
        // Written BF16 reads back as exactly the bfloat16 values (NaN compares equal to NaN in Assert.Equal).
        Assert.Equal(source.Select(v => BFloat16.ToSingle(BFloat16.FromSingle(v))), f.ReadFloats("x"));
    }
}
