using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace Cleft.Autograd.IO;

/// <summary>One tensor's header entry: dtype, shape and its byte range in the file (absolute offsets).</summary>
public sealed record SafetensorsEntry(string Name, string Dtype, int[] Shape, long Offset, long ByteLength)
{
    public long Count => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>
/// Reads a .safetensors file: u64 little-endian header length N, N bytes of UTF-8 JSON
/// {name: {dtype, shape, data_offsets: [begin, end]}} (offsets relative to the data section, optional
/// "__metadata__" of strings), then the data. Every field is treated as hostile and checked before any data
/// are read: N against the file size, JSON structure, duplicate names, dtypes, shapes (non-negative, product
/// without overflow), byte length = count x dtype size, ranges inside the data section, no two ranges
/// overlapping. Errors name the file and the tensor. Data are read per tensor on demand, so a multi-GB
/// checkpoint is never loaded whole.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Headers above this are refused (real ones are kilobytes; this bounds what a hostile N allocates).</summary>
    public const long MaxHeaderBytes = 100L << 20;

    static readonly Dictionary<string, int> DtypeSizes = new()
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1,
    };

    readonly SafeFileHandle _file;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafetensorsFile(string path, SafeFileHandle file, Dictionary<string, SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path; _file = file; Entries = entries; Metadata = metadata;
    }

    public static SafetensorsFile Open(string path)
    {
        var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        try
        {
            long size = RandomAccess.GetLength(file);
            Fail(size >= 8, path, $"file is {size} bytes, shorter than the 8-byte header length");
            Span<byte> len = stackalloc byte[8];
            ReadExactly(file, len, 0, path);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
            Fail(n <= (ulong)(size - 8), path, $"header length {n} exceeds the {size - 8} bytes after the length field");
            Fail(n <= MaxHeaderBytes, path, $"header length {n} exceeds the {MaxHeaderBytes}-byte limit");
            var header = new byte[n];
            ReadExactly(file, header, 8, path);
            long dataStart = 8 + (long)n, dataLength = size - dataStart;
            var (entries, metadata) = ParseHeader(header, path, dataStart, dataLength);
            return new SafetensorsFile(path, file, entries, metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseHeader(byte[] header, string path, long dataStart, long dataLength)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 }); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: header is not valid JSON: {e.Message}", e); }
        using var _ = doc;
        var root = doc.RootElement;
        Fail(root.ValueKind == JsonValueKind.Object, path, $"header must be a JSON object, got {root.ValueKind}");
        var entries = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var ranges = new List<(long Begin, long End, string Name)>();
        foreach (var prop in root.EnumerateObject())
        {
            string name = prop.Name;
            Fail(seen.Add(name), path, $"tensor name '{name}' appears twice in the header");
            var v = prop.Value;
            if (name == "__metadata__")
            {
                Fail(v.ValueKind == JsonValueKind.Object, path, "__metadata__ must be an object of strings");
                foreach (var m in v.EnumerateObject())
                {
                    Fail(m.Value.ValueKind == JsonValueKind.String, path, $"__metadata__ value '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            Fail(v.ValueKind == JsonValueKind.Object, path, $"tensor '{name}': entry must be an object");
            Fail(v.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String, path, $"tensor '{name}': missing string 'dtype'");
            string dtype = dt.GetString()!;
            Fail(DtypeSizes.TryGetValue(dtype, out int esize), path, $"tensor '{name}': unknown dtype '{dtype}'");
            Fail(v.TryGetProperty("shape", out var sh) && sh.ValueKind == JsonValueKind.Array, path, $"tensor '{name}': missing array 'shape'");
            var shape = new int[sh.GetArrayLength()];
            Fail(shape.Length <= 16, path, $"tensor '{name}': rank {shape.Length} is implausible");
            long count = 1;
            int d = 0;
            foreach (var e in sh.EnumerateArray())
            {
                Fail(e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out shape[d]) && shape[d] >= 0, path,
                    $"tensor '{name}': shape entries must be non-negative 32-bit integers, got {e.GetRawText()}");
                try { count = checked(count * shape[d]); }
                catch (OverflowException) { Fail(false, path, $"tensor '{name}': shape [{string.Join(",", sh.EnumerateArray())}] overflows"); }
                d++;
            }
            Fail(v.TryGetProperty("data_offsets", out var off) && off.ValueKind == JsonValueKind.Array && off.GetArrayLength() == 2, path,
                $"tensor '{name}': 'data_offsets' must be [begin, end]");
            long begin = -1, end = -1;
            bool ints = off[0].ValueKind == JsonValueKind.Number && off[1].ValueKind == JsonValueKind.Number
                && off[0].TryGetInt64(out begin) && off[1].TryGetInt64(out end);
            Fail(ints && begin >= 0 && begin <= end, path,
                $"tensor '{name}': data_offsets {off.GetRawText()} must be integers with 0 <= begin <= end");
            Fail(end <= dataLength, path, $"tensor '{name}': data_offsets end {end} lies past the {dataLength}-byte data section");
            long expected = count > long.MaxValue / esize ? -1 : count * esize;
            Fail(end - begin == expected, path, $"tensor '{name}': {end - begin} bytes for {dtype} shape [{string.Join(",", shape)}], which needs {count} x {esize}");
            ranges.Add((begin, end, name));
            entries[name] = new SafetensorsEntry(name, dtype, shape, dataStart + begin, end - begin);
        }
        ranges.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        for (int i = 1; i < ranges.Count; i++)
            Fail(ranges[i].Begin >= ranges[i - 1].End, path, $"tensors '{ranges[i - 1].Name}' and '{ranges[i].Name}' overlap in the data section");
        return (entries, metadata);
    }

    /// <summary>The tensor's values as float32 (from F32, F16, BF16 or F64).</summary>
    public float[] ReadFloats(string name)
    {
        if (!Entries.TryGetValue(name, out var e)) throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");
        var raw = new byte[e.ByteLength];
        ReadExactly(_file, raw, e.Offset, Path);
        var f = new float[e.Count];
        switch (e.Dtype)
        {
            case "F32": for (int i = 0; i < f.Length; i++) f[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(i * 4)); break;
            case "F16": for (int i = 0; i < f.Length; i++) f[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw.AsSpan(i * 2)); break;
            case "BF16": for (int i = 0; i < f.Length; i++) f[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(i * 2)) << 16); break;
            case "F64": for (int i = 0; i < f.Length; i++) f[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw.AsSpan(i * 8)); break;
            default: throw new InvalidDataException($"{Path}: tensor '{name}' has dtype {e.Dtype}, which does not convert to float32");
        }
        return f;
    }

    static void ReadExactly(SafeFileHandle file, Span<byte> dst, long offset, string path)
    {
        while (dst.Length > 0)
        {
            int n = RandomAccess.Read(file, dst, offset);
            Fail(n > 0, path, $"file ended early at byte {offset}");
            dst = dst[n..];
            offset += n;
        }
    }

    static void Fail(bool ok, string path, string message)
    {
        if (!ok) throw new InvalidDataException($"{path}: {message}");
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>Writes .safetensors files (F32 or F16 data; the header padded with spaces to 8-byte alignment).</summary>
public static class SafetensorsWriter
{
    public sealed record Item(string Name, int[] Shape, float[] Data);

    public static void Write(string path, IEnumerable<Item> tensors, string dtype = "F32", IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (dtype is not ("F32" or "F16")) throw new ArgumentException($"{path}: can write F32 or F16, not '{dtype}'");
        int esize = dtype == "F32" ? 4 : 2;
        var items = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is not null)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var t in items)
            {
                if (t.Name == "__metadata__" || !names.Add(t.Name)) throw new ArgumentException($"{path}: tensor name '{t.Name}' is reserved or repeated");
                long count = t.Shape.Aggregate(1L, (a, d) => d < 0 ? throw new ArgumentException($"{path}: '{t.Name}' has a negative dimension") : a * d);
                if (count != t.Data.Length) throw new ArgumentException($"{path}: '{t.Name}' has {t.Data.Length} values for shape [{string.Join(",", t.Shape)}]");
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape"); foreach (int d in t.Shape) w.WriteNumberValue(d); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(offset); w.WriteNumberValue(offset + count * esize); w.WriteEndArray();
                w.WriteEndObject();
                offset += count * esize;
            }
            w.WriteEndObject();
        }
        var header = ms.ToArray().ToList();
        while ((8 + header.Count) % 8 != 0) header.Add((byte)' ');
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Count);
        f.Write(len);
        f.Write(header.ToArray());
        foreach (var t in items)
        {
            var bytes = new byte[t.Data.Length * esize];
            for (int i = 0; i < t.Data.Length; i++)
            {
                if (esize == 4) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), t.Data[i]);
                else BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)t.Data[i]);
            }
            f.Write(bytes);
        }
    }
}
