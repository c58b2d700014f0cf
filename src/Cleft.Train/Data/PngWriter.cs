using System.Buffers.Binary;
using System.IO.Compression;

namespace Cleft.Train.Data;

/// <summary>
/// Minimal PNG encoder for 8-bit grayscale or RGB: IHDR, one zlib IDAT (filter type 0 on every row), IEND.
/// Enough for the synthetic data set; the decoder side is StbImageSharp, so a round trip checks both.
/// </summary>
public static class PngWriter
{
    static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];
    static readonly uint[] CrcTable = BuildCrcTable();

    public static void WriteGray(string path, ReadOnlySpan<byte> pixels, int width, int height)
    {
        using var fs = File.Create(path);
        WriteGray(fs, pixels, width, height);
    }

    public static void WriteGray(Stream output, ReadOnlySpan<byte> pixels, int width, int height) => Write(output, pixels, width, height, 1);

    /// <summary><paramref name="channels"/> 1 (gray) or 3 (interleaved RGB).</summary>
    public static void Write(Stream output, ReadOnlySpan<byte> pixels, int width, int height, int channels)
    {
        if (width <= 0 || height <= 0 || pixels.Length != (long)width * height * channels)
            throw new ArgumentException($"{pixels.Length} bytes for a {width}x{height}x{channels} image");
        WriteHeader(output, width, height, channels);
        using var body = new Body();
        for (int y = 0; y < height; y++) body.Row(pixels.Slice(y * width * channels, width * channels));
        body.WriteTo(output);
    }

    /// <summary>
    /// An image whose every row is <paramref name="row"/>, streamed without the whole pixel buffer: a test makes
    /// a real 15000x15000 file (a decompression bomb of a few hundred KB) from one row.
    /// </summary>
    public static void WriteRepeatedRow(Stream output, ReadOnlySpan<byte> row, int width, int height, int channels)
    {
        if (width <= 0 || height <= 0 || row.Length != (long)width * channels)
            throw new ArgumentException($"{row.Length} bytes for a row of a {width}x{height}x{channels} image");
        WriteHeader(output, width, height, channels);
        using var body = new Body();
        for (int y = 0; y < height; y++) body.Row(row);
        body.WriteTo(output);
    }

    /// <summary>The zlib stream of filtered rows, written as one IDAT followed by IEND.</summary>
    sealed class Body : IDisposable
    {
        readonly MemoryStream _raw = new();
        readonly ZLibStream _z;

        public Body() => _z = new ZLibStream(_raw, CompressionLevel.Optimal, leaveOpen: true);

        public void Row(ReadOnlySpan<byte> row)
        {
            _z.WriteByte(0); // filter: none
            _z.Write(row);
        }

        public void WriteTo(Stream output)
        {
            _z.Dispose(); // flushes the deflate stream's tail
            Chunk(output, "IDAT", _raw.ToArray());
            Chunk(output, "IEND", []);
        }

        public void Dispose() { _z.Dispose(); _raw.Dispose(); }
    }

    static void WriteHeader(Stream output, int width, int height, int channels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 or 3");
        output.Write(Signature);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = (byte)(channels == 1 ? 0 : 2); // colour type 0 gray, 2 RGB; compression, filter, interlace all 0
        Chunk(output, "IHDR", ihdr);
    }

    static void Chunk(Stream s, string type, byte[] data)
    {
        Span<byte> b4 = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b4, data.Length);
        s.Write(b4);
        var typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        uint crc = Crc(0xFFFFFFFFu, typeBytes);
        crc = Crc(crc, data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(b4, crc);
        s.Write(b4);
    }

    static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
