namespace Cleft.Fuzz;

/// <summary>
/// One input format under fuzz: valid seed files, the reader to run on a (mutated) file, the exception types the
/// reader documents for bad input, and the allocation bound a case must stay under.
/// </summary>
public sealed class FuzzFormat
{
    public required string Name { get; init; }
    /// <summary>Valid files; each runs once unmutated (it must succeed), then mutants are drawn from them in turn.</summary>
    public required IReadOnlyList<byte[]> Seeds { get; init; }
    /// <summary>Bad input ends in one of these (or a subclass); anything else escaping the reader is a bug.</summary>
    public required Type[] Documented { get; init; }
    /// <summary>CSV and JSON: extreme numbers replace digit runs and structural characters are inserted.</summary>
    public bool Text { get; init; }
    /// <summary>
    /// A structure-aware mutation in place of <see cref="Mutator.Mutate"/> (seed, donors, case seed); null for the
    /// generic one.
    /// </summary>
    public Func<byte[], IReadOnlyList<byte[]>, ulong, byte[]>? Mutate { get; init; }
    /// <summary>
    /// Runs the reader on the input mutated from seed <c>seedIndex</c> (a format may hold seeds for more than one
    /// reader); returns the outcome when nothing is thrown ("ok", or e.g. "exit 2" for the console).
    /// </summary>
    public required Func<byte[], int, string> Run { get; init; }
    /// <summary>A case may allocate <see cref="SizeMultiple"/> x its input's size + <see cref="ConstantBytes"/> (+ the pixel term).</summary>
    public required int SizeMultiple { get; init; }
    public required long ConstantBytes { get; init; }
    /// <summary>
    /// Images: the width x height the header declares (0 when none, or over the decoder's limit). A valid header may
    /// declare up to 100 MP in a few hundred bytes, and decoding it is legitimate work, so each declared pixel adds
    /// <see cref="BytesPerPixel"/> to the memory bound and <see cref="NanosecondsPerPixel"/> to the time limit.
    /// </summary>
    public Func<byte[], long>? DeclaredPixels { get; init; }

    /// <summary>stb's 8-bit copy (up to 4 components) and 3 float planes are ~16 bytes per pixel; 2x headroom.</summary>
    public const long BytesPerPixel = 32;
    /// <summary>Decoding plus float conversion measure ~90 ns per pixel on the CI machine; 2x headroom.</summary>
    public const double NanosecondsPerPixel = 200;

    public long MemoryBound(byte[] input) => SizeMultiple * (long)input.Length + ConstantBytes + BytesPerPixel * (DeclaredPixels?.Invoke(input) ?? 0);

    public TimeSpan TimeLimit(byte[] input) => FuzzRunner.CaseLimit + TimeSpan.FromMicroseconds(NanosecondsPerPixel / 1000 * (DeclaredPixels?.Invoke(input) ?? 0));

    public string MemoryRule => $"{SizeMultiple} x size + {ConstantBytes >> 20} MB" + (DeclaredPixels is null ? "" : $" + {BytesPerPixel} B/declared pixel");
}
