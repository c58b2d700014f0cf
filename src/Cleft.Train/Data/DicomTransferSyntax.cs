namespace Cleft.Train.Data;

/// <summary>
/// Which DICOM transfer syntaxes <see cref="DicomReader"/> reads (the two uncompressed little-endian ones) and,
/// for the others, a refusal that names the syntax and a command that converts the file to one we read.
/// </summary>
static class DicomTransferSyntax
{
    public const string ImplicitVrLittleEndian = "1.2.840.10008.1.2";
    public const string ExplicitVrLittleEndian = "1.2.840.10008.1.2.1";

    const string DcmDjpeg = "dcmtk: dcmdjpeg in.dcm out.dcm";
    const string DcmDjpls = "dcmtk: dcmdjpls in.dcm out.dcm";
    const string DcmDrle = "dcmtk: dcmdrle in.dcm out.dcm";
    const string DcmConv = "dcmtk: dcmconv +te in.dcm out.dcm";
    // dcmtk's free toolkit has no JPEG 2000 codec; GDCM's converter does.
    const string GdcmRaw = "GDCM: gdcmconv --raw in.dcm out.dcm";

    static readonly Dictionary<string, (string Name, string? Convert)> Others = new()
    {
        ["1.2.840.10008.1.2.1.99"] = ("Deflated Explicit VR Little Endian", DcmConv),
        ["1.2.840.10008.1.2.2"] = ("Explicit VR Big Endian", DcmConv),
        ["1.2.840.10008.1.2.4.50"] = ("JPEG Baseline (Process 1)", DcmDjpeg),
        ["1.2.840.10008.1.2.4.51"] = ("JPEG Extended (Process 2 & 4)", DcmDjpeg),
        ["1.2.840.10008.1.2.4.57"] = ("JPEG Lossless, Non-Hierarchical (Process 14)", DcmDjpeg),
        ["1.2.840.10008.1.2.4.70"] = ("JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 SV1)", DcmDjpeg),
        ["1.2.840.10008.1.2.4.80"] = ("JPEG-LS Lossless", DcmDjpls),
        ["1.2.840.10008.1.2.4.81"] = ("JPEG-LS Near-Lossless", DcmDjpls),
        ["1.2.840.10008.1.2.4.90"] = ("JPEG 2000 (Lossless Only)", GdcmRaw),
        ["1.2.840.10008.1.2.4.91"] = ("JPEG 2000", GdcmRaw),
        ["1.2.840.10008.1.2.4.92"] = ("JPEG 2000 Part 2 Multi-component (Lossless Only)", GdcmRaw),
        ["1.2.840.10008.1.2.4.93"] = ("JPEG 2000 Part 2 Multi-component", GdcmRaw),
        ["1.2.840.10008.1.2.4.94"] = ("JPIP Referenced", null),
        ["1.2.840.10008.1.2.4.95"] = ("JPIP Referenced Deflate", null),
        ["1.2.840.10008.1.2.4.100"] = ("MPEG2 Main Profile / Main Level (video)", null),
        ["1.2.840.10008.1.2.4.101"] = ("MPEG2 Main Profile / High Level (video)", null),
        ["1.2.840.10008.1.2.4.102"] = ("MPEG-4 AVC/H.264 High Profile (video)", null),
        ["1.2.840.10008.1.2.4.103"] = ("MPEG-4 AVC/H.264 BD-compatible High Profile (video)", null),
        ["1.2.840.10008.1.2.4.104"] = ("MPEG-4 AVC/H.264 High Profile for 2D Video", null),
        ["1.2.840.10008.1.2.4.105"] = ("MPEG-4 AVC/H.264 High Profile for 3D Video", null),
        ["1.2.840.10008.1.2.4.106"] = ("MPEG-4 AVC/H.264 Stereo High Profile (video)", null),
        ["1.2.840.10008.1.2.4.107"] = ("HEVC/H.265 Main Profile (video)", null),
        ["1.2.840.10008.1.2.4.108"] = ("HEVC/H.265 Main 10 Profile (video)", null),
        ["1.2.840.10008.1.2.4.110"] = ("JPEG XL Lossless", null),
        ["1.2.840.10008.1.2.4.111"] = ("JPEG XL JPEG Recompression", null),
        ["1.2.840.10008.1.2.4.112"] = ("JPEG XL", null),
        ["1.2.840.10008.1.2.4.201"] = ("High-Throughput JPEG 2000 (Lossless Only)", GdcmRaw),
        ["1.2.840.10008.1.2.4.202"] = ("High-Throughput JPEG 2000 with RPCL Options (Lossless Only)", GdcmRaw),
        ["1.2.840.10008.1.2.4.203"] = ("High-Throughput JPEG 2000", GdcmRaw),
        ["1.2.840.10008.1.2.5"] = ("RLE Lossless", DcmDrle),
    };

    /// <summary>True for explicit VR, false for implicit VR; any other syntax is refused with its name and UID.</summary>
    public static bool IsExplicitVr(string uid, string file)
    {
        if (uid == ExplicitVrLittleEndian) return true;
        if (uid == ImplicitVrLittleEndian) return false;
        const string readable = "only uncompressed Explicit VR Little Endian (1.2.840.10008.1.2.1) and Implicit VR Little Endian (1.2.840.10008.1.2) are read";
        if (!Others.TryGetValue(uid, out var known))
            throw new ImageLoadException(file, $"DICOM transfer syntax {uid} is not supported: {readable}");
        string convert = known.Convert is null ? "" : $"; convert it first, e.g. with {known.Convert}";
        throw new ImageLoadException(file, $"DICOM transfer syntax {known.Name} ({uid}) is not supported: {readable}{convert}");
    }
}
