using System.Buffers.Binary;

namespace Cleft.Train.Data;

/// <summary>
/// Stored DICOM pixel values -> [0, 1]: unpack (BitsAllocated 8/16, BitsStored bits ending at HighBit,
/// sign-extended when PixelRepresentation = 1) -> modality rescale (x = stored * RescaleSlope + RescaleIntercept)
/// -> VOI: the window (first WindowCenter/WindowWidth; VOILUTFunction LINEAR, LINEAR_EXACT or SIGMOID, PS3.3
/// C.11.2.1.2 and C.11.2.1.3, as pydicom's apply_windowing) with output range [0, 1], or without a usable
/// window the min-max of the rescaled values -> MONOCHROME1 inverted (1 - y), so bright is always dense.
/// VOI LUT and Modality LUT sequences are not applied (the window or min-max is used instead).
/// </summary>
static class DicomPixels
{
    const uint SamplesPerPixel = 0x00280002, Photometric = 0x00280004, NumberOfFrames = 0x00280008, Rows = 0x00280010,
        Columns = 0x00280011, BitsAllocated = 0x00280100, BitsStored = 0x00280101, HighBit = 0x00280102,
        PixelRepresentation = 0x00280103, WindowCenter = 0x00281050, WindowWidth = 0x00281051,
        RescaleIntercept = 0x00281052, RescaleSlope = 0x00281053, VoiLutFunction = 0x00281056;

    public static HostImage ToImage(DicomValues v, byte[] bytes, string name)
    {
        ImageLoadException Refuse(string reason) => new(name, "DICOM " + reason);

        int samples = v.UInt16(SamplesPerPixel) ?? 1;
        if (samples != 1) throw Refuse($"SamplesPerPixel {samples} (colour) is not supported: grayscale images only");
        string photometric = v.FirstString(Photometric) ?? throw Refuse("PhotometricInterpretation (0028,0004) is missing");
        if (photometric is not ("MONOCHROME1" or "MONOCHROME2"))
            throw Refuse($"PhotometricInterpretation {photometric} is not supported: MONOCHROME1 or MONOCHROME2 only");
        int frames = v.Integer(NumberOfFrames) ?? 1;
        if (frames > 1) throw Refuse($"multi-frame images (NumberOfFrames {frames}) are not supported: one frame per file only");
        int rows = v.UInt16(Rows) ?? throw Refuse("Rows (0028,0010) is missing");
        int cols = v.UInt16(Columns) ?? throw Refuse("Columns (0028,0011) is missing");
        if (rows == 0 || cols == 0) throw Refuse($"image size {rows}x{cols} has no pixels");
        int allocated = v.UInt16(BitsAllocated) ?? throw Refuse("BitsAllocated (0028,0100) is missing");
        if (allocated is not (8 or 16)) throw Refuse($"BitsAllocated {allocated} is not supported: 8 or 16 only");
        int stored = v.UInt16(BitsStored) ?? allocated;
        int highBit = v.UInt16(HighBit) ?? stored - 1;
        if (stored < 1 || stored > allocated || highBit < stored - 1 || highBit >= allocated)
            throw Refuse($"BitsStored {stored} / HighBit {highBit} do not fit in BitsAllocated {allocated}");
        int representation = v.UInt16(PixelRepresentation) ?? 0;
        if (representation is not (0 or 1)) throw Refuse($"PixelRepresentation {representation} is neither 0 (unsigned) nor 1 (signed)");

        long count = (long)rows * cols, needed = count * (allocated / 8);
        var (offset, length) = v.Range(DicomReader.PixelDataTag);
        if (length < needed) throw Refuse($"Pixel Data holds {length} bytes, {rows}x{cols} pixels at {allocated} bits need {needed} (truncated file?)");

        var unpack = new Unpacker(allocated, stored, highBit, representation == 1);
        double slope = v.Decimal(RescaleSlope) ?? 1, intercept = v.Decimal(RescaleIntercept) ?? 0;
        // Stored values are within +-65535, so this bounds every rescaled value and the min-max span.
        if (!double.IsFinite(2 * (Math.Abs(slope) * 65536 + Math.Abs(intercept))))
            throw Refuse($"RescaleSlope {slope:R} / RescaleIntercept {intercept:R} overflow the rescaled values");
        var pixels = bytes.AsSpan(offset, (int)needed);
        var voi = Voi.From(v, name, slope, intercept, unpack, pixels, (int)count);
        var image = new HostImage(1, rows, cols);
        var plane = image.Plane(0);
        bool invert = photometric == "MONOCHROME1";
        for (int i = 0; i < plane.Length; i++)
        {
            double y = voi.Apply(unpack.At(pixels, i) * slope + intercept);
            plane[i] = (float)(invert ? 1 - y : y);
        }
        return image;
    }

    /// <summary>Stored value of pixel i: its BitsStored bits ending at HighBit, sign-extended if signed.</summary>
    readonly struct Unpacker(int allocated, int stored, int highBit, bool signed)
    {
        readonly int _shift = highBit + 1 - stored, _mask = (1 << stored) - 1, _sign = 1 << (stored - 1);

        public int At(ReadOnlySpan<byte> pixels, int i)
        {
            int word = allocated == 8 ? pixels[i] : BinaryPrimitives.ReadUInt16LittleEndian(pixels.Slice(2 * i));
            int value = (word >> _shift) & _mask;
            return signed ? (value ^ _sign) - _sign : value;
        }
    }

    /// <summary>The VOI transform of a rescaled value to [0, 1].</summary>
    enum VoiKind { Linear, Sigmoid, MinMax }

    readonly record struct Voi(VoiKind Kind, double Center, double Width)
    {
        public static Voi From(DicomValues v, string name, double slope, double intercept, Unpacker unpack, ReadOnlySpan<byte> pixels, int count)
        {
            double? center = v.Decimal(WindowCenter), width = v.Decimal(WindowWidth);
            string function = v.FirstString(VoiLutFunction) ?? "LINEAR";
            if (function is not ("LINEAR" or "LINEAR_EXACT" or "SIGMOID"))
                throw new ImageLoadException(name, $"DICOM VOILUTFunction {function} is not supported: LINEAR, LINEAR_EXACT or SIGMOID");
            // A window the standard forbids (LINEAR needs width >= 1, the others width > 0) is treated as absent,
            // as a missing one: the image is still usable with the min-max of its values.
            bool usable = center is not null && width is not null && (function == "LINEAR" ? width >= 1 : width > 0);
            if (usable)
                return function switch
                {
                    "LINEAR" => new Voi(VoiKind.Linear, center!.Value - 0.5, width!.Value - 1),
                    "LINEAR_EXACT" => new Voi(VoiKind.Linear, center!.Value, width!.Value),
                    _ => new Voi(VoiKind.Sigmoid, center!.Value, width!.Value),
                };

            int lo = int.MaxValue, hi = int.MinValue;
            for (int i = 0; i < count; i++) { int s = unpack.At(pixels, i); lo = Math.Min(lo, s); hi = Math.Max(hi, s); }
            // Rescaling is monotonic, so the extremes of x are those of the stored values (swapped if slope < 0);
            // computed with the same expression as each pixel's x, so they match it bit for bit.
            double a = lo * slope + intercept, b = hi * slope + intercept;
            return new Voi(VoiKind.MinMax, Math.Min(a, b), Math.Max(a, b) - Math.Min(a, b));
        }

        public double Apply(double x) => Kind switch
        {
            // LINEAR holds center - 0.5 and width - 1 (C.11.2.1.2.1), so it shares LINEAR_EXACT's formula; a LINEAR
            // width of 1 leaves 0 here and is a pure threshold at center - 0.5, never dividing by it.
            VoiKind.Linear => x <= Center - Width / 2 ? 0 : x > Center + Width / 2 ? 1 : (x - Center) / Width + 0.5,
            VoiKind.Sigmoid => 1 / (1 + Math.Exp(-4 * (x - Center) / Width)),
            _ => Width > 0 ? (x - Center) / Width : 0,
        };
    }
}
