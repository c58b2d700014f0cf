using System.Diagnostics;
using System.Text;
using Cleft.Train.Cli;

namespace Cleft.Tests.Distributed;

/// <summary>
/// Runs `mpirun -np N dotnet cleft.dll ...` for the distributed tests. Without mpirun they are skipped, unless
/// CLEFT_REQUIRE_MPI=1 (CI, after scripts/install-mpi.sh), where that is a failure. Tests run as root in CI, hence
/// --allow-run-as-root; --oversubscribe lets two ranks share fewer cores; single-copy shared memory is off
/// because containers usually forbid the ptrace it needs.
/// </summary>
static class MpiHarness
{
    public static string? Locate() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    /// <summary>mpirun's path, or skips the test (fails it under CLEFT_REQUIRE_MPI=1) when it is absent.</summary>
    public static string Require()
    {
        if (Locate() is { } mpirun) return mpirun;
        const string why = "mpirun not found on PATH; run scripts/install-mpi.sh (Debian: openmpi-bin libopenmpi-dev)";
        if (Environment.GetEnvironmentVariable("CLEFT_REQUIRE_MPI") == "1") Assert.Fail(why + " (CLEFT_REQUIRE_MPI=1)");
        Skip.If(true, why);
        return "";
    }

    /// <summary>A started job whose output is collected as it comes (a child blocked on a full pipe would stop training).</summary>
    public sealed class Job : IDisposable
    {
        readonly StringBuilder _output = new();
        public Job(string mpirun, int ranks, IEnumerable<string> args)
        {
            var psi = new ProcessStartInfo(mpirun) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { "--allow-run-as-root", "--oversubscribe", "--mca", "btl_vader_single_copy_mechanism", "none", "-np", ranks.ToString(),
                         "dotnet", typeof(CliApp).Assembly.Location })
                psi.ArgumentList.Add(a);
            foreach (var a in args) psi.ArgumentList.Add(a);
            Process = Process.Start(psi) ?? throw new InvalidOperationException("could not start mpirun");
            Process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            Process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            Process.BeginOutputReadLine();
            Process.BeginErrorReadLine();
        }

        public Process Process { get; }
        public string Output { get { lock (_output) return _output.ToString(); } }

        /// <summary>Waits for the job (and its output) to end; false on timeout.</summary>
        public bool Wait(TimeSpan timeout)
        {
            if (!Process.WaitForExit(timeout)) return false;
            Process.WaitForExit();
            return true;
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
        }
    }
}
