using System.Reflection;
using Cleft.Fuzz;
using Xunit.Abstractions;

namespace Cleft.Tests.Fuzz;

/// <summary>
/// The CI fuzz run (docs/FUZZING.md): 2,000 seeded mutants of valid files per format, each format in its own child
/// process. Every case must end in success or the reader's documented exception, within the time limit and the
/// format's allocation bound. The table goes to the test output, to artifacts/fuzz-report.txt (which the test
/// project prints after `dotnet test`) and, on failure, into the assertion message.
/// </summary>
public class FuzzSuiteTests(ITestOutputHelper output)
{
    public const int CasesPerFormat = 2000;
    /// <summary>Fixed so CI is deterministic; CLEFT_FUZZ_SEED explores others locally.</summary>
    public const ulong DefaultSeed = 20241129;

    [Fact]
    public void EveryFormatEndsInSuccessOrItsDocumentedException()
    {
        ulong seed = ulong.TryParse(Environment.GetEnvironmentVariable("CLEFT_FUZZ_SEED"), out ulong s) ? s : DefaultSeed;
        string artifacts = Artifacts();
        var results = FuzzFormats.Names.Select(f => FuzzProcess.Run(f, CasesPerFormat, seed, Path.Combine(artifacts, "fuzz-failures"))).ToList();
        string table = FuzzReport.Table(results, seed);
        output.WriteLine(table);
        Directory.CreateDirectory(artifacts);
        File.WriteAllText(Path.Combine(artifacts, "fuzz-report.txt"), table);

        Assert.True(results.All(r => r.Failures.Count == 0), table);
        Assert.All(results, r => Assert.Equal(CasesPerFormat, r.Cases));
    }

    /// <summary>A child that dies (here: an unhandled exception, as a crash in a reader would be) is a failed row, not a lost one.</summary>
    [Fact]
    public void AChildThatDiesIsAFailureNamingWhy()
    {
        var r = FuzzProcess.Run("no-such-format", 10, 1, Path.Combine(Path.GetTempPath(), "cleft-fuzz-unused"));
        Assert.Equal(0, r.Cases);
        string failure = Assert.Single(r.Failures);
        Assert.Contains("no-such-format: the process died (exit code", failure);
        Assert.Contains("before the first case", failure);
        Assert.Contains("unknown fuzz format 'no-such-format'", failure);
    }

    /// <summary>The repository's artifacts/ folder, passed in by the test project (bin/ may live elsewhere under CLEFT_BUILD_ROOT).</summary>
    static string Artifacts() =>
        typeof(FuzzSuiteTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "CleftArtifacts")?.Value
        ?? Path.Combine(Path.GetTempPath(), "cleft-artifacts");
}
