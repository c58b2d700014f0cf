using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Cleft.Train.Data;

/// <summary>
/// Uncompressed grayscale DICOM (EMBED mammograms, RSNA pneumonia) -> <see cref="HostImage"/>, 1 channel in [0, 1].
/// Hand-written: no DICOM library (fo-dicom and the like) is on the NuGet feed this project builds from, and
/// the data sets need only a small part of the standard: a Part 10 file (128-byte preamble, "DICM", the file
/// meta group in explicit VR little endian) whose data set is Explicit or Implicit VR Little Endian; compressed
/// syntaxes are refused naming the syntax and a conversion command. The parser reads the dozen top-level
/// attributes <see cref="DicomPixels"/> needs and skips everything else, sequences included (nested attributes,
/// such as an icon image's own Rows and Pixel Data, are never used). Every length is checked against the bytes
/// left, so a hostile or truncated file ends in an <see cref="ImageLoadException"/>, never an out-of-range read.
/// </summary>
public static class DicomReader
{
    const int PreambleLength = 128;
    const uint UndefinedLength = 0xFFFFFFFF;
    const uint ItemTag = 0xFFFEE000, ItemDelimiterTag = 0xFFFEE00D, SequenceDelimiterTag = 0xFFFEE0DD;
    const uint TransferSyntaxTag = 0x00020010;
    internal const uint PixelDataTag = 0x7FE00010;
    // Hostile files can nest sequences deeply to exhaust the stack; real ones nest a handful of levels.
    const int MaxSequenceDepth = 32;

    /// <summary>
    /// The attributes read, with their VR: implicit VR files carry no VRs, so this is the dictionary that tells
    /// how to read each value; in explicit VR files the file's own VR must agree (or be UN, raw implicit bytes).
    /// </summary>
    internal static readonly Dictionary<uint, (string Name, string Vr)> Attributes = new()
    {
        [0x00280002] = ("SamplesPerPixel", "US"),
        [0x00280004] = ("PhotometricInterpretation", "CS"),
        [0x00280008] = ("NumberOfFrames", "IS"),
        [0x00280010] = ("Rows", "US"),
        [0x00280011] = ("Columns", "US"),
        [0x00280100] = ("BitsAllocated", "US"),
        [0x00280101] = ("BitsStored", "US"),
        [0x00280102] = ("HighBit", "US"),
        [0x00280103] = ("PixelRepresentation", "US"),
        [0x00281050] = ("WindowCenter", "DS"),
        [0x00281051] = ("WindowWidth", "DS"),
        [0x00281052] = ("RescaleIntercept", "DS"),
        [0x00281053] = ("RescaleSlope", "DS"),
        [0x00281056] = ("VOILUTFunction", "CS"),
    };

    // VRs whose explicit-VR header has 2 reserved bytes and a 4-byte length (PS3.5 7.1.2).
    static readonly HashSet<string> LongVrs = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"];

    /// <summary>A Part 10 file ("DICM" after the preamble), or anything named *.dcm (so a preamble-less one is refused clearly).</summary>
    public static bool LooksLikeDicom(ReadOnlySpan<byte> bytes, string name) =>
        (bytes.Length >= PreambleLength + 4 && bytes.Slice(PreambleLength, 4).SequenceEqual("DICM"u8))
        || name.EndsWith(".dcm", StringComparison.OrdinalIgnoreCase);

    /// <param name="name">Used only in error messages.</param>
    public static HostImage Decode(byte[] bytes, string name) => DicomPixels.ToImage(ReadHeader(bytes, name), bytes, name);

    /// <summary>Top-level attributes by tag, each as (offset, length) of its value in the file; Pixel Data included.</summary>
    internal static DicomValues ReadHeader(byte[] bytes, string name)
    {
        if (bytes.Length < PreambleLength + 4 || !bytes.AsSpan(PreambleLength, 4).SequenceEqual("DICM"u8))
            throw new ImageLoadException(name, "not a DICOM Part 10 file (no \"DICM\" after a 128-byte preamble); files without the preamble are not supported");
        var c = new Cursor(bytes, name) { Pos = PreambleLength + 4 };
        string? syntax = null;
        // The file meta group is always explicit VR little endian, whatever the data set's syntax is.
        while (c.Remaining >= 4 && BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(c.Pos)) == 0x0002)
        {
            var e = c.Header(explicitVr: true);
            if (e.Length == UndefinedLength) throw c.Fail($"file meta element {Tag(e.Tag)} has an undefined length");
            c.Need(e.Length, $"file meta element {Tag(e.Tag)}");
            if (e.Tag == TransferSyntaxTag) syntax = Text(bytes.AsSpan(c.Pos, (int)e.Length));
            c.Pos += (int)e.Length;
        }
        if (string.IsNullOrEmpty(syntax)) throw new ImageLoadException(name, "DICOM file meta has no Transfer Syntax UID (0002,0010)");
        bool explicitVr = DicomTransferSyntax.IsExplicitVr(syntax, name);
        var values = new DicomValues(bytes, name);
        ReadDataSet(ref c, explicitVr, values, depth: 0);
        if (!values.Has(PixelDataTag)) throw new ImageLoadException(name, "DICOM data set has no Pixel Data (7FE0,0010)");
        return values;
    }

    /// <summary>
    /// Walks one data set: the file's top level (<paramref name="into"/> set; stops after Pixel Data or at the end
    /// of the file) or an item of undefined length being skipped (<paramref name="into"/> null; stops after its
    /// item delimiter).
    /// </summary>
    static void ReadDataSet(ref Cursor c, bool explicitVr, DicomValues? into, int depth)
    {
        while (into is null || c.Remaining > 0)
        {
            int at = c.Pos;
            var e = c.Header(explicitVr);
            if (e.Tag == ItemDelimiterTag)
            {
                if (into is null) return;
                throw c.Fail($"item delimiter outside any item at offset {at}");
            }
            if ((e.Tag >> 16) == 0xFFFE) throw c.Fail($"unexpected {Tag(e.Tag)} at offset {at} (an item outside a sequence)");
            if (e.Length == UndefinedLength)
            {
                if (e.Tag == PixelDataTag) throw c.Fail("encapsulated (compressed) Pixel Data in an uncompressed transfer syntax");
                // Undefined length means a sequence: SQ, implicit VR (no VR to say so), or UN whose content is
                // implicit VR little endian whatever the file's syntax (PS3.5 6.2.2).
                if (explicitVr && e.Vr is not ("SQ" or "UN")) throw c.Fail($"element {Tag(e.Tag)} ({e.Vr}) has an undefined length");
                SkipSequence(ref c, explicitVr && e.Vr == "SQ", depth + 1);
                continue;
            }
            c.Need(e.Length, $"element {Tag(e.Tag)} at offset {at}");
            if (into is not null && (e.Tag == PixelDataTag || Attributes.ContainsKey(e.Tag)))
            {
                if (explicitVr && e.Tag != PixelDataTag && e.Vr != "UN" && e.Vr != Attributes[e.Tag].Vr)
                    throw c.Fail($"{Attributes[e.Tag].Name} {Tag(e.Tag)} has VR {e.Vr}, expected {Attributes[e.Tag].Vr}");
                into.Set(e.Tag, c.Pos, (int)e.Length);
            }
            c.Pos += (int)e.Length;
            if (into is not null && e.Tag == PixelDataTag) return;
        }
    }

    static void SkipSequence(ref Cursor c, bool explicitVr, int depth)
    {
        if (depth > MaxSequenceDepth) throw c.Fail($"sequences nested deeper than {MaxSequenceDepth} levels");
        while (true)
        {
            int at = c.Pos;
            c.Need(8, "sequence item header (sequence without a delimiter?)");
            uint tag = c.Tag(), length = c.U32();
            if (tag == SequenceDelimiterTag) return;
            if (tag != ItemTag) throw c.Fail($"expected a sequence item at offset {at}, found {Tag(tag)}");
            if (length == UndefinedLength) ReadDataSet(ref c, explicitVr, null, depth);
            else
            {
                c.Need(length, $"sequence item at offset {at}");
                c.Pos += (int)length;
            }
        }
    }

    static string Tag(uint tag) => $"({tag >> 16:X4},{tag & 0xFFFF:X4})";

    /// <summary>A value as ASCII text without the space/NUL padding.</summary>
    internal static string Text(ReadOnlySpan<byte> value) => Encoding.ASCII.GetString(value).Trim(' ', '\0');

    readonly record struct Element(uint Tag, string Vr, uint Length);

    /// <summary>A read position in the file; every read checks the bytes left first.</summary>
    struct Cursor(byte[] bytes, string name)
    {
        public int Pos;
        public readonly int Remaining => bytes.Length - Pos;

        public readonly ImageLoadException Fail(string reason) => new(name, "malformed DICOM: " + reason);

        public readonly void Need(long count, string what)
        {
            if (count > Remaining) throw Fail($"truncated: {what} needs {count} bytes, {Remaining} left");
        }

        public uint Tag()
        {
            uint tag = (uint)BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(Pos)) << 16 | BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(Pos + 2));
            Pos += 4;
            return tag;
        }

        public uint U32()
        {
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(Pos));
            Pos += 4;
            return v;
        }

        public Element Header(bool explicitVr)
        {
            Need(8, "element header");
            uint tag = Tag();
            // Items and delimiters carry no VR in either syntax.
            if (!explicitVr || (tag >> 16) == 0xFFFE) return new Element(tag, "", U32());
            byte v0 = bytes[Pos], v1 = bytes[Pos + 1];
            if (v0 is < (byte)'A' or > (byte)'Z' || v1 is < (byte)'A' or > (byte)'Z')
                throw Fail($"element {DicomReader.Tag(tag)} at offset {Pos - 4} has no valid VR (bytes {v0:X2} {v1:X2}; implicit VR data in an explicit VR file?)");
            string vr = Encoding.ASCII.GetString(bytes, Pos, 2);
            Pos += 2;
            if (!LongVrs.Contains(vr)) { uint shortLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(Pos)); Pos += 2; return new Element(tag, vr, shortLength); }
            Need(6, "element header");
            Pos += 2;
            return new Element(tag, vr, U32());
        }
    }
}

/// <summary>The top-level values <see cref="DicomReader"/> kept, read on demand by tag.</summary>
sealed class DicomValues(byte[] bytes, string name)
{
    readonly Dictionary<uint, (int Offset, int Length)> _found = [];

    public void Set(uint tag, int offset, int length) => _found[tag] = (offset, length);
    public bool Has(uint tag) => _found.ContainsKey(tag);
    public (int Offset, int Length) Range(uint tag) => _found[tag];

    public int? UInt16(uint tag)
    {
        if (!_found.TryGetValue(tag, out var r)) return null;
        if (r.Length < 2) throw Bad(tag, $"value of {r.Length} bytes, expected 2");
        return BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(r.Offset));
    }

    /// <summary>The first of a backslash-separated string value (DS, IS and CS may be multi-valued); null when absent or empty.</summary>
    public string? FirstString(uint tag)
    {
        if (!_found.TryGetValue(tag, out var r)) return null;
        string text = DicomReader.Text(bytes.AsSpan(r.Offset, r.Length));
        int slash = text.IndexOf('\\');
        string first = (slash < 0 ? text : text[..slash]).Trim(' ', '\0');
        return first.Length == 0 ? null : first;
    }

    public double? Decimal(uint tag)
    {
        string? s = FirstString(tag);
        if (s is null) return null;
        if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw Bad(tag, $"'{s}' is not a finite decimal number");
        return v;
    }

    public int? Integer(uint tag)
    {
        string? s = FirstString(tag);
        if (s is null) return null;
        if (!int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)) throw Bad(tag, $"'{s}' is not an integer");
        return v;
    }

    ImageLoadException Bad(uint tag, string problem) =>
        new(name, $"DICOM {DicomReader.Attributes[tag].Name} ({tag >> 16:X4},{tag & 0xFFFF:X4}): {problem}");
}
