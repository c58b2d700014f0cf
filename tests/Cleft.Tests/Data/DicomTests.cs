using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Cleft.Tests.Autograd;
using Cleft.Train.Data;

namespace Cleft.Tests.Data;

/// <summary>
/// DicomReader against pydicom 2.3 (tests/fixtures/generators/dicom.py writes the files and the expected [0, 1]
/// pixels into Fixtures/dicom/expected.json; its docstring says which steps are pydicom's), its refusals, and
/// hostile input: every truncation and random corruption must end in an ImageLoadException or a valid image.
/// </summary>
public sealed class DicomTests
{
    static readonly string Dir = Path.Combine(AppContext.BaseDirectory, "Fixtures", "dicom");
    static readonly Lazy<JsonElement> Expected = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Dir, "expected.json"))).RootElement.GetProperty("files"));

    public static TheoryData<string> ValidFiles() => new(Expected.Value.EnumerateObject().Select(p => p.Name));

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void MatchesPydicom(string file)
    {
        var want = Expected.Value.GetProperty(file);
        var img = ImageDecoder.Load(Path.Combine(Dir, file)); // through the decoder's DICM dispatch
        Assert.Equal((1, want.GetProperty("rows").GetInt32(), want.GetProperty("columns").GetInt32()), (img.Channels, img.Height, img.Width));
        double[] pixels = want.GetProperty("pixels").EnumerateArray().Select(p => p.GetDouble()).ToArray();
        TestData.AssertClose(pixels, img.Data, 1e-6, 0, $"{file} ({want.GetProperty("voi").GetString()})");
    }

    [Fact]
    public void FixturesCoverBothSyntaxesAndEveryVoiPath()
    {
        var names = Expected.Value.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains(names, n => n.StartsWith("explicit_")); // generator prefixes name the transfer syntax
        Assert.Contains(names, n => n.StartsWith("implicit_"));
        var vois = Expected.Value.EnumerateObject().Select(p => string.Join(' ', p.Value.GetProperty("voi").GetString()!.Split(' ').Take(2))).ToHashSet();
        Assert.Superset(new HashSet<string> { "min-max", "window LINEAR", "window LINEAR_EXACT", "window SIGMOID" }, vois);
    }

    [Theory]
    [InlineData("multiframe.dcm", "multi-frame images (NumberOfFrames 3) are not supported")]
    [InlineData("rgb.dcm", "SamplesPerPixel 3 (colour) is not supported")]
    [InlineData("jpeg_baseline.dcm", "JPEG Baseline (Process 1) (1.2.840.10008.1.2.4.50) is not supported")]
    [InlineData("jpeg_baseline.dcm", "dcmtk: dcmdjpeg in.dcm out.dcm")]
    [InlineData("big_endian.dcm", "Explicit VR Big Endian (1.2.840.10008.1.2.2) is not supported")]
    public void RefusesClearly(string file, string reason)
    {
        string path = Path.Combine(Dir, file);
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Load(path));
        Assert.Contains(reason, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void FileWithoutPreambleIsRefusedByName()
    {
        byte[] body = File.ReadAllBytes(Path.Combine(Dir, "explicit_u8_mono2.dcm"))[132..];
        var e = Assert.Throws<ImageLoadException>(() => ImageDecoder.Decode(body, "scan.DCM"));
        Assert.Contains("'scan.DCM'", e.Message);
        Assert.Contains("files without the preamble are not supported", e.Message);
    }

    [Theory]
    [InlineData("explicit_s12_linear_exact_icon.dcm")]
    [InlineData("implicit_u16_mono1_rescale_icon.dcm")]
    public void EveryTruncationIsAnImageLoadException(string file)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(Dir, file));
        for (int n = 0; n < bytes.Length; n++)
        {
            var e = Record.Exception(() => DicomReader.Decode(bytes[..n], file));
            Assert.True(e is ImageLoadException, $"{file} cut to {n} bytes: {e?.GetType().Name ?? "decoded"} {e?.Message}");
        }
    }

    [Theory]
    [InlineData("explicit_s12_linear_exact_icon.dcm", 1)]
    [InlineData("implicit_u16_mono1_rescale_icon.dcm", 2)]
    [InlineData("implicit_u12_mono2_window.dcm", 3)]
    public void CorruptedFilesFailCleanlyOrDecodeToUnitRange(string file, int seed)
    {
        byte[] original = File.ReadAllBytes(Path.Combine(Dir, file));
        var rng = new Random(seed);
        int decoded = 0;
        for (int trial = 0; trial < 1500; trial++)
        {
            byte[] bytes = (byte[])original.Clone();
            // Most flips land in the header (before the pixels), where the parser's checks matter.
            int headerEnd = original.Length - 240;
            for (int k = rng.Next(1, 5); k > 0; k--) bytes[rng.Next(128, headerEnd)] = (byte)rng.Next(256);
            try
            {
                var img = DicomReader.Decode(bytes, file);
                Assert.All(img.Data, v => Assert.InRange(v, 0f, 1f));
                decoded++;
            }
            catch (ImageLoadException) { }
        }
        Assert.InRange(decoded, 1, 1499); // both outcomes happen, so the loop exercised the parser
    }

    [Fact]
    public void SkipsUnknownUndefinedLengthElementAsImplicitSequence()
    {
        // UN of undefined length holds an implicit VR sequence (PS3.5 6.2.2) even in an explicit VR file; its
        // item sets Rows = 9, which must not leak into the top level.
        var item = new DataSetWriter(explicitVr: false).US(0x00280010, 9).ToArray();
        var nested = new List<byte>();
        nested.AddRange(ItemHeader(0xFFFEE000, 0xFFFFFFFF)); nested.AddRange(item); nested.AddRange(ItemHeader(0xFFFEE00D, 0));
        nested.AddRange(ItemHeader(0xFFFEE0DD, 0));
        var ds = new DataSetWriter(explicitVr: true).Raw(0x00091010, "UN", [.. nested], undefinedLength: true);
        var img = DicomReader.Decode(Image2x2(ds, [0, 100, 200, 50]), "un.dcm");
        Assert.Equal((2, 2), (img.Height, img.Width));
        TestData.AssertClose([0, 0.5, 1, 0.25], img.Data, 1e-7, 0, "min-max after the UN sequence");
    }

    [Fact]
    public void DeepNestingIsRefused()
    {
        var body = new List<byte>();
        for (int i = 0; i < 40; i++) { body.AddRange(new DataSetWriter(true).SqOpen(0x00400275).ToArray()); body.AddRange(ItemHeader(0xFFFEE000, 0xFFFFFFFF)); }
        var ds = new DataSetWriter(true);
        ds.Bytes.AddRange(body);
        var e = Assert.Throws<ImageLoadException>(() => DicomReader.Decode(Part10(DicomTransferSyntaxUid.Explicit, ds), "deep.dcm"));
        Assert.Contains("nested deeper than 32", e.Message);
    }

    [Fact]
    public void ForbiddenWindowFallsBackToMinMaxAndBadNumbersAreNamed()
    {
        var ok = DicomReader.Decode(Image2x2(new DataSetWriter(true).Str(0x00281050, "DS", "10").Str(0x00281051, "DS", "0.5"), [0, 100, 200, 50]), "w.dcm");
        TestData.AssertClose([0, 0.5, 1, 0.25], ok.Data, 1e-7, 0, "LINEAR width < 1 ignored");
        var e = Assert.Throws<ImageLoadException>(() => DicomReader.Decode(Image2x2(new DataSetWriter(true).Str(0x00281052, "DS", "abc\\1"), [0, 1, 2, 3]), "n.dcm"));
        Assert.Contains("RescaleIntercept (0028,1052): 'abc' is not a finite decimal number", e.Message);
        e = Assert.Throws<ImageLoadException>(() => DicomReader.Decode(Image2x2(new DataSetWriter(true).Str(0x00281053, "DS", "1e305"), [0, 1, 2, 3]), "o.dcm"));
        Assert.Contains("overflow", e.Message);
    }

    [Fact]
    public void WrongVrInExplicitFileIsNamed()
    {
        var ds = new DataSetWriter(true).Str(0x00280010, "DS", "2 ");
        var e = Assert.Throws<ImageLoadException>(() => DicomReader.Decode(Image2x2(ds, [0, 1, 2, 3]), "vr.dcm"));
        Assert.Contains("Rows (0028,0010) has VR DS, expected US", e.Message);
    }

    static class DicomTransferSyntaxUid { public const string Explicit = "1.2.840.10008.1.2.1"; }

    static byte[] ItemHeader(uint tag, uint length)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)(tag >> 16));
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), (ushort)tag);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), length);
        return b;
    }

    /// <summary>A 2x2 8-bit MONOCHROME2 explicit VR file: the attributes in <paramref name="prefix"/>, then the image's.</summary>
    static byte[] Image2x2(DataSetWriter prefix, byte[] pixels)
    {
        prefix.US(0x00280002, 1).Str(0x00280004, "CS", "MONOCHROME2").US(0x00280010, 2).US(0x00280011, 2)
            .US(0x00280100, 8).US(0x00280101, 8).US(0x00280102, 7).US(0x00280103, 0).Raw(0x7FE00010, "OB", pixels);
        return Part10(DicomTransferSyntaxUid.Explicit, prefix);
    }

    static byte[] Part10(string syntax, DataSetWriter dataSet)
    {
        var meta = new DataSetWriter(true).Str(0x00020010, "UI", syntax + "\0");
        return [.. new byte[128], .. "DICM"u8.ToArray(), .. meta.Bytes, .. dataSet.Bytes];
    }

    /// <summary>Little-endian element writer for the hand-made cases pydicom cannot write.</summary>
    sealed class DataSetWriter(bool explicitVr)
    {
        public List<byte> Bytes { get; } = [];
        public byte[] ToArray() => [.. Bytes];

        public DataSetWriter US(uint tag, ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return Raw(tag, "US", b); }
        public DataSetWriter Str(uint tag, string vr, string text) => Raw(tag, vr, Encoding.ASCII.GetBytes(text.Length % 2 == 0 ? text : text + " "));
        public DataSetWriter SqOpen(uint tag) => Raw(tag, "SQ", [], undefinedLength: true);

        public DataSetWriter Raw(uint tag, string vr, byte[] value, bool undefinedLength = false)
        {
            uint length = undefinedLength ? 0xFFFFFFFF : (uint)value.Length;
            bool longForm = vr is "OB" or "OW" or "SQ" or "UN" or "UT";
            if (!explicitVr) Bytes.AddRange(ItemHeader(tag, length));
            else
            {
                Bytes.AddRange(ItemHeader(tag, 0)[..4]);
                Bytes.AddRange(Encoding.ASCII.GetBytes(vr));
                if (longForm) { Bytes.AddRange(new byte[2]); Bytes.AddRange(BitConverter.GetBytes(length)); }
                else Bytes.AddRange(BitConverter.GetBytes((ushort)length));
            }
            Bytes.AddRange(value);
            return this;
        }
    }
}
