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
    /// Runs the reader on the input mutated from seed <c>seedIndex</c> (a format may hold seeds for more than one
    /// reader); returns the outcome when nothing is thrown ("ok", or e.g. "exit 2" for the console).
    /// </summary>
    public required Func<byte[], int, string> Run { get; init; }
    /// <summary>Bytes a case may allocate, given its input; and the same rule in words for the report.</summary>
    public required Func<byte[], long> MemoryBound { get; init; }
    public required string MemoryRule { get; init; }
}
