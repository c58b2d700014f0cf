using System.Buffers.Binary;
using Cleft.Autograd.IO;
using Cleft.Train.Data;
using StbImageSharp;

namespace Cleft.Fuzz;

/// <summary>The binary formats: safetensors, PNG, JPEG and DICOM, with their seeds and readers.</summary>
public static class BinaryFormats
{
    const long MB = 1 << 20;

    /// <summary>
    /// Open checks the header against the file, then every tensor is read: the raw bytes (at most the data section)
    /// plus the float32 or int64 copy (at most 8 bytes per stored byte for I8), so 32 x the file is ample.
    /// </summary>
    public static FuzzFormat Safetensors(string fixtures, string scratch)
    {
        var seeds = new List<byte[]>
        {
            WriteSafetensors(scratch, "F32", [new("w", [3, 4], Ramp(12)), new("b", [4], Ramp(4))], new Dictionary<string, string> { ["format"] = "pt" }),
            WriteSafetensors(scratch, "F16", [new("emb", [5, 2], Ramp(10)), new("empty", [0, 3], [])], null),
            WriteSafetensors(scratch, "BF16", [new("x", [2, 2, 2], Ramp(8))], null),
            File.ReadAllBytes(Path.Combine(fixtures, "safetensors_torch", "mixed.safetensors")),
        };
        string file = Path.Combine(scratch, "fuzz.safetensors");
        return new FuzzFormat
        {
            Name = "safetensors", Seeds = seeds, Documented = [typeof(InvalidDataException)],
            SizeMultiple = 32, ConstantBytes = MB, Mutate = MutateSafetensors,
            Run = (input, _) =>
            {
                File.WriteAllBytes(file, input);
                using var st = SafetensorsFile.Open(file);
                foreach (var e in st.Entries.Values)
                {
                    if (e.Dtype is "I64" or "I32") st.ReadLongs(e.Name);
                    else if (e.Dtype is "F32" or "F16" or "BF16" or "F64") st.ReadFloats(e.Name);
                }
                return "ok";
            },
        };
    }

    /// <summary>
    /// Half the cases mutate the JSON header as text (extreme offsets and shapes, broken structure) and rewrite the
    /// length field to match, so they reach the entry checks instead of stopping at the length; the other half
    /// mutate the file's bytes.
    /// </summary>
    static byte[] MutateSafetensors(byte[] seed, IReadOnlyList<byte[]> donors, ulong caseSeed)
    {
        if ((caseSeed >> 63) == 0) return Mutator.Mutate(seed, donors, caseSeed, text: false);
        static byte[] Header(byte[] file) => file[8..(8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file))];
        byte[] header = Mutator.Mutate(Header(seed), [.. donors.Select(Header)], caseSeed, text: true), data = seed[(8 + Header(seed).Length)..];
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    public static FuzzFormat Png()
    {
        var seeds = new List<byte[]> { EncodePng(16, 16, 1, 3), EncodePng(23, 7, 3, 5), EncodePng(64, 40, 1, 7) };
        return Image("png", seeds);
    }

    public static FuzzFormat Jpeg(string fixtures) => Image("jpeg", [File.ReadAllBytes(Path.Combine(fixtures, "sample_64x40.jpg"))]);

    /// <summary>
    /// Every DICOM fixture the reader accepts. The refused ones (big-endian, compressed, colour, multi-frame) stop at
    /// their transfer syntax or photometric check, so their mutants would exercise little beyond it.
    /// </summary>
    public static FuzzFormat Dicom(string fixtures) => Image("dicom",
        [.. Directory.GetFiles(Path.Combine(fixtures, "dicom"), "*.dcm").Order(StringComparer.Ordinal)
            .Select(File.ReadAllBytes).Where(Readable)]);

    /// <summary>
    /// Beyond the declared pixels (see <see cref="FuzzFormat.DeclaredPixels"/>): 64 x the file covers DICOM's
    /// uncompressed pixels (4-byte floats from 1- or 2-byte samples, whose count the file length bounds) and the
    /// container walk; 1 MB the decoder's fixed tables and the exception.
    /// </summary>
    static FuzzFormat Image(string name, IReadOnlyList<byte[]> seeds) => new()
    {
        Name = name, Seeds = seeds, Documented = [typeof(ImageLoadException)],
        SizeMultiple = 64, ConstantBytes = MB, DeclaredPixels = DeclaredPixels,
        Run = (input, _) => { ImageDecoder.Decode(input, "fuzz-input"); return "ok"; },
    };

    /// <summary>Width x height from the PNG/JPEG container (or stb's header reader), 0 when absent or over the limit.</summary>
    static long DeclaredPixels(byte[] input)
    {
        long w = -1, h = -1;
        if (ImageStructure.Inspect(input) is { } s) (w, h) = (s.Width, s.Height);
        else
        {
            try { if (ImageInfo.FromStream(new MemoryStream(input)) is { } i) (w, h) = (i.Width, i.Height); }
            catch (Exception e) when (e is not OutOfMemoryException) { }
        }
        long pixels = w > 0 && h > 0 && w <= ImageDecoder.DefaultMaxPixels && h <= ImageDecoder.DefaultMaxPixels ? w * h : 0;
        return pixels <= ImageDecoder.DefaultMaxPixels ? pixels : 0;
    }

    static bool Readable(byte[] bytes)
    {
        try { ImageDecoder.Decode(bytes, "seed"); return true; }
        catch (ImageLoadException) { return false; }
    }

    static float[] Ramp(int n) => [.. Enumerable.Range(0, n).Select(i => (i - n / 2) * 0.25f)];

    static byte[] WriteSafetensors(string scratch, string dtype, SafetensorsWriter.Item[] items, Dictionary<string, string>? metadata)
    {
        string path = Path.Combine(scratch, $"seed-{dtype}.safetensors");
        SafetensorsWriter.Write(path, items, dtype, metadata);
        return File.ReadAllBytes(path);
    }

    static byte[] EncodePng(int width, int height, int channels, int step)
    {
        var pixels = new byte[width * height * channels];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * step);
        using var ms = new MemoryStream();
        PngWriter.Write(ms, pixels, width, height, channels);
        return ms.ToArray();
    }
}
