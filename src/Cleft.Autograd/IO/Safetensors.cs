using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Unicode;
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
/// are read: N against the file size, UTF-8, JSON structure, duplicate names, dtypes, shapes (non-negative,
/// product without overflow), byte length = count x dtype size, ranges tiling the data section exactly (no
/// overlap, gap or trailing bytes). Every parse error is an InvalidDataException naming the file and the tensor. Data are read per tensor on demand, so a multi-GB
/// checkpoint is never loaded whole.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>
    /// The __metadata__ key holding the lowercase hex SHA-256 of the data section (every byte after the header).
    /// <see cref="SafetensorsWriter"/> always adds it; <see cref="Open"/> checks it when present, so a checkpoint
    /// that was corrupted on disk is refused, while files from elsewhere (Hugging Face, torch) without it load.
    /// </summary>
    public const string HashKey = "sha256";

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
            // Checked before JSON parsing: System.Text.Json parses invalid UTF-8 inside strings and only fails
            // later, with an InvalidOperationException that does not name the file, when a string is read.
            Fail(Utf8.IsValid(header), path, "header is not valid UTF-8");
            long dataStart = 8 + (long)n, dataLength = size - dataStart;
            var (entries, metadata) = ParseHeader(header, path, dataStart, dataLength);
            if (metadata.TryGetValue(HashKey, out var expected)) CheckHash(file, path, dataStart, size, expected);
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
        // A string escape with a lone surrogate ("\ud800") passes the parser but throws InvalidOperationException
        // when the string is read; it is a bad header like any other.
        try { return ParseEntries(doc.RootElement, path, dataStart, dataLength); }
        catch (InvalidOperationException e) { throw new InvalidDataException($"{path}: header holds an invalid string: {e.Message}", e); }
    }

    static (Dictionary<string, SafetensorsEntry>, Dictionary<string, string>) ParseEntries(JsonElement root, string path, long dataStart, long dataLength)
    {
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
        CheckContiguous(ranges, path, dataLength);
        return (entries, metadata);
    }

    /// <summary>Hashes the data section in reads of at most 1 MiB (a checkpoint is never loaded whole; a small file
    /// gets a buffer of its own size) and compares with the header's value.</summary>
    static void CheckHash(SafeFileHandle file, string path, long dataStart, long size, string expected)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[(int)Math.Clamp(size - dataStart, 1, 1 << 20)];
        for (long at = dataStart; at < size;)
        {
            int n = (int)Math.Min(buffer.Length, size - at);
            ReadExactly(file, buffer.AsSpan(0, n), at, path);
            sha.AppendData(buffer, 0, n);
            at += n;
        }
        string actual = Convert.ToHexStringLower(sha.GetHashAndReset());
        Fail(string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase), path,
            $"the data section's SHA-256 is {actual}, but the header records {expected}: the file is corrupt (changed or damaged after it was written)");
    }

    /// <summary>
    /// As the reference implementation requires: sorted by offsets, the ranges tile the data section from byte 0
    /// to its very end. A gap or trailing bytes are data no tensor accounts for (a truncated header, a splice or
    /// a smuggled payload), so they are refused rather than ignored.
    /// </summary>
    static void CheckContiguous(List<(long Begin, long End, string Name)> ranges, string path, long dataLength)
    {
        ranges.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long at = 0;
        for (int i = 0; i < ranges.Count; i++)
        {
            var (begin, end, name) = ranges[i];
            Fail(begin >= at, path, $"tensors '{ranges[Math.Max(i - 1, 0)].Name}' and '{name}' overlap in the data section");
            Fail(begin == at, path, i == 0
                ? $"tensor '{name}' starts at data byte {begin}, but the data section must start with a tensor at byte 0"
                : $"gap of {begin - at} bytes between tensors '{ranges[i - 1].Name}' (ends at {at}) and '{name}' (starts at {begin})");
            at = end;
        }
        Fail(at == dataLength, path, $"the tensors end at data byte {at} but the data section has {dataLength} bytes ({dataLength - at} unaccounted bytes at the end)");
    }

    /// <summary>
    /// The tensor's values as float32: F32, F16, BF16 and F64 convert (F64 rounds); I64 and I32 only when every
    /// value is exactly a float32 (an integer tensor read as weights must not silently change).
    /// </summary>
    public float[] ReadFloats(string name)
    {
        var (e, raw) = ReadRaw(name);
        var f = new float[e.Count];
        switch (e.Dtype)
        {
            case "F32": for (int i = 0; i < f.Length; i++) f[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(i * 4)); break;
            case "F16": for (int i = 0; i < f.Length; i++) f[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw.AsSpan(i * 2)); break;
            case "BF16": for (int i = 0; i < f.Length; i++) f[i] = BFloat16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw.AsSpan(i * 2))); break;
            case "F64": for (int i = 0; i < f.Length; i++) f[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw.AsSpan(i * 8)); break;
            default:
                var ints = Integers(e, raw) ?? throw NotConvertible(e, "float32");
                for (int i = 0; i < f.Length; i++)
                {
                    f[i] = ints[i];
                    // Range first: float -> long saturates, so 2^63 would otherwise compare equal to long.MaxValue.
                    if (f[i] >= 9.223372e18f || (long)f[i] != ints[i])
                        throw new InvalidDataException($"{Path}: tensor '{name}' ({e.Dtype}) value {ints[i]} at index {i} is not exactly representable as float32");
                }
                break;
        }
        return f;
    }

    /// <summary>The values of an I64 or I32 tensor (I32 widens).</summary>
    public long[] ReadLongs(string name)
    {
        var (e, raw) = ReadRaw(name);
        return Integers(e, raw) ?? throw NotConvertible(e, "int64");
    }

    /// <summary>The values of an I32 tensor, or of an I64 tensor whose every value fits in 32 bits.</summary>
    public int[] ReadInts(string name)
    {
        var (e, raw) = ReadRaw(name);
        var longs = Integers(e, raw) ?? throw NotConvertible(e, "int32");
        var ints = new int[longs.Length];
        for (int i = 0; i < ints.Length; i++)
            ints[i] = longs[i] is >= int.MinValue and <= int.MaxValue ? (int)longs[i]
                : throw new InvalidDataException($"{Path}: tensor '{name}' (I64) value {longs[i]} at index {i} does not fit in int32");
        return ints;
    }

    (SafetensorsEntry Entry, byte[] Raw) ReadRaw(string name)
    {
        if (!Entries.TryGetValue(name, out var e)) throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");
        var raw = new byte[e.ByteLength];
        ReadExactly(_file, raw, e.Offset, Path);
        return (e, raw);
    }

    /// <summary>I64 or I32 data as longs; null for any other dtype.</summary>
    static long[]? Integers(SafetensorsEntry e, byte[] raw)
    {
        var v = new long[e.Count];
        switch (e.Dtype)
        {
            case "I64": for (int i = 0; i < v.Length; i++) v[i] = BinaryPrimitives.ReadInt64LittleEndian(raw.AsSpan(i * 8)); return v;
            case "I32": for (int i = 0; i < v.Length; i++) v[i] = BinaryPrimitives.ReadInt32LittleEndian(raw.AsSpan(i * 4)); return v;
            default: return null;
        }
    }

    InvalidDataException NotConvertible(SafetensorsEntry e, string to) =>
        new($"{Path}: tensor '{e.Name}' has dtype {e.Dtype}, which does not convert to {to}");

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

/// <summary>
/// Writes .safetensors files (F32, F16 or BF16 data; the header padded with spaces to 8-byte alignment). The
/// header's __metadata__ carries <see cref="SafetensorsFile.HashKey"/>: the SHA-256 of the data section, which
/// <see cref="SafetensorsFile.Open"/> checks. The file is replaced durably (<see cref="DurableFile"/>).
/// </summary>
public static class SafetensorsWriter
{
    public sealed record Item(string Name, int[] Shape, float[] Data);

    /// <summary>Bytes per value and the float -> little-endian encoding of each writable dtype (both halves round to nearest even).</summary>
    static readonly Dictionary<string, (int Size, SpanWriter Put)> Encodings = new()
    {
        ["F32"] = (4, (s, v) => BinaryPrimitives.WriteSingleLittleEndian(s, v)),
        ["F16"] = (2, (s, v) => BinaryPrimitives.WriteHalfLittleEndian(s, (Half)v)),
        ["BF16"] = (2, (s, v) => BinaryPrimitives.WriteUInt16LittleEndian(s, BFloat16.FromSingle(v))),
    };

    delegate void SpanWriter(Span<byte> dst, float value);
    delegate void ByteSink(ReadOnlySpan<byte> bytes);

    public static void Write(string path, IEnumerable<Item> tensors, string dtype = "F32", IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (!Encodings.TryGetValue(dtype, out var enc))
            throw new ArgumentException($"{path}: can write {string.Join(", ", Encodings.Keys)}, not '{dtype}'");
        if (metadata?.ContainsKey(SafetensorsFile.HashKey) == true)
            throw new ArgumentException($"{path}: __metadata__ key '{SafetensorsFile.HashKey}' is reserved for the data hash the writer adds");
        int esize = enc.Size;
        var items = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in items)
        {
            if (t.Name == "__metadata__" || !names.Add(t.Name)) throw new ArgumentException($"{path}: tensor name '{t.Name}' is reserved or repeated");
            long count = t.Shape.Aggregate(1L, (a, d) => d < 0 ? throw new ArgumentException($"{path}: '{t.Name}' has a negative dimension") : a * d);
            if (count != t.Data.Length) throw new ArgumentException($"{path}: '{t.Name}' has {t.Data.Length} values for shape [{string.Join(",", t.Shape)}]");
        }
        // The data are encoded twice (once hashed, once written) rather than held encoded: F32 is a zero-copy
        // view, and the halves cost a conversion pass instead of a second copy of every tensor in memory.
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Encode(items, dtype, enc, bytes => sha.AppendData(bytes));
        var meta = new Dictionary<string, string>(metadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [SafetensorsFile.HashKey] = Convert.ToHexStringLower(sha.GetHashAndReset()),
        };
        long offset = 0;
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteStartObject("__metadata__");
            foreach (var (k, v) in meta) w.WriteString(k, v);
            w.WriteEndObject();
            foreach (var t in items)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape"); foreach (int d in t.Shape) w.WriteNumberValue(d); w.WriteEndArray();
                w.WriteStartArray("data_offsets"); w.WriteNumberValue(offset); w.WriteNumberValue(offset + (long)t.Data.Length * esize); w.WriteEndArray();
                w.WriteEndObject();
                offset += (long)t.Data.Length * esize;
            }
            w.WriteEndObject();
        }
        var header = ms.ToArray().ToList();
        while ((8 + header.Count) % 8 != 0) header.Add((byte)' ');
        DurableFile.Write(path, f =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Count);
            f.Write(len);
            f.Write(header.ToArray());
            Encode(items, dtype, enc, f.Write);
        });
    }

    /// <summary>Feeds the data section to <paramref name="sink"/> in order, in chunks of at most 1 MiB of encoded bytes.</summary>
    static void Encode(List<Item> items, string dtype, (int Size, SpanWriter Put) enc, ByteSink sink)
    {
        if (dtype == "F32" && BitConverter.IsLittleEndian)
        {
            foreach (var t in items) sink(MemoryMarshal.AsBytes(t.Data.AsSpan()));
            return;
        }
        const int chunk = 1 << 18;
        var buffer = new byte[chunk * enc.Size];
        foreach (var t in items)
            for (int at = 0; at < t.Data.Length; at += chunk)
            {
                int n = Math.Min(chunk, t.Data.Length - at);
                for (int i = 0; i < n; i++) enc.Put(buffer.AsSpan(i * enc.Size), t.Data[at + i]);
                sink(buffer.AsSpan(0, n * enc.Size));
            }
    }
}
