using System.Buffers.Binary;

namespace Cleft.Train.Data;

/// <summary>
/// What a PNG or JPEG's container says before any pixel is decoded: the dimensions (so a decompression bomb is
/// refused from its header) and the first structural problem, if any. stb_image decodes truncated files without
/// complaint (a JPEG cut in its scan comes back with grey rows, a PNG without IEND decodes what is there), so
/// the checks here are what turn a half-copied file into an error instead of a silently wrong training image.
/// </summary>
/// <param name="Width">-1 when the header with the dimensions was not reached.</param>
/// <param name="Problem">null when the container is whole.</param>
public readonly record struct ImageStructure(string Format, long Width, long Height, string? Problem)
{
    static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The structure of a PNG or JPEG; null for any other format (left to the decoder).</summary>
    public static ImageStructure? Inspect(ReadOnlySpan<byte> bytes)
    {
        if (bytes.StartsWith(PngSignature)) return Png(bytes);
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) return Jpeg(bytes);
        return null;
    }

    /// <summary>Chunks: u32 BE length, 4-byte type, data, CRC. IHDR first; the file ends at IEND.</summary>
    static ImageStructure Png(ReadOnlySpan<byte> b)
    {
        long width = -1, height = -1;
        ImageStructure Result(string? problem) => new("PNG", width, height, problem);
        int pos = PngSignature.Length;
        while (true)
        {
            if (b.Length - pos < 8) return Result($"truncated PNG: no IEND chunk (the data end at byte {b.Length})");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(b[pos..]);
            string type = System.Text.Encoding.ASCII.GetString(b.Slice(pos + 4, 4));
            if (length > int.MaxValue || length + 12L > b.Length - pos)
                return Result($"truncated PNG: chunk '{type}' at byte {pos} declares {length} data bytes but only {b.Length - pos - 12} remain");
            if (pos == PngSignature.Length)
            {
                if (type != "IHDR" || length != 13) return Result($"corrupt PNG: first chunk is '{type}' ({length} bytes), not a 13-byte IHDR");
                width = BinaryPrimitives.ReadUInt32BigEndian(b[(pos + 8)..]);
                height = BinaryPrimitives.ReadUInt32BigEndian(b[(pos + 12)..]);
            }
            if (type == "IEND") return Result(null);
            pos += 12 + (int)length;
        }
    }

    /// <summary>
    /// Markers from SOI to EOI: length-prefixed segments (SOFn carries the size), and after each SOS the
    /// entropy-coded data up to the next real marker (0xFF followed by a byte other than 0x00, a fill 0xFF or
    /// RSTn). Bytes after EOI are ignored, as libjpeg/PIL do.
    /// </summary>
    static ImageStructure Jpeg(ReadOnlySpan<byte> b)
    {
        long width = -1, height = -1;
        ImageStructure Result(string? problem) => new("JPEG", width, height, problem);
        int size = b.Length;
        string NoEoi(string where) => $"truncated JPEG: the data end {where} at byte {size} without the end-of-image marker (0xFFD9)";
        int pos = 2;
        while (true)
        {
            if (b.Length - pos < 2) return Result(NoEoi("between segments"));
            // Stray bytes between segments (some encoders pad) are skipped, as libjpeg and stb do; a file that is
            // only junk from here on still ends without EOI and is refused below.
            if (b[pos] != 0xFF) { pos++; continue; }
            byte marker = b[pos + 1];
            if (marker == 0xFF) { pos++; continue; } // fill byte before a marker
            if (marker == 0xD9) return Result(null);
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7)) { pos += 2; continue; } // TEM, RSTn: no length
            if (b.Length - pos < 4) return Result(NoEoi($"inside the 0xFF{marker:X2} segment header"));
            int length = BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 2)..]);
            if (length < 2) return Result($"corrupt JPEG: segment 0xFF{marker:X2} at byte {pos} has length {length}");
            if (pos + 2L + length > b.Length)
                return Result($"truncated JPEG: segment 0xFF{marker:X2} at byte {pos} declares {length} bytes but only {b.Length - pos - 2} remain");
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, height, width.
            if (marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC) && width < 0 && length >= 7)
            {
                height = BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 5)..]);
                width = BinaryPrimitives.ReadUInt16BigEndian(b[(pos + 7)..]);
            }
            pos += 2 + length;
            if (marker != 0xDA) continue;
            while (pos + 1 < b.Length && !(b[pos] == 0xFF && b[pos + 1] is not (0x00 or 0xFF or (>= 0xD0 and <= 0xD7)))) pos++;
            if (pos + 1 >= b.Length) return Result(NoEoi("inside a scan"));
        }
    }
}
