using System.Diagnostics;
using Cleft.Train.Cli;
using Cleft.Train.Data;

namespace Cleft.Tests.Cli;

/// <summary>Runs `cleft` in-process (fast) or as a child process (to kill it), capturing its output.</summary>
static class CliHarness
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The console as a separate process (`dotnet cleft.dll ...`), output redirected.</summary>
    public static Process Start(params string[] args)
    {
        string dll = typeof(CliApp).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
    }

    /// <summary>
    /// A small data set of one's own: 24 px images of three shapes (a ring, a horizontal bar, a filled square)
    /// with jittered position and noise; captions in a column named "text", labels (shape names) in "kind".
    /// </summary>
    public static string OwnCsv(string dir, int count, int seed)
    {
        string[] kinds = ["ring", "bar", "square"];
        string[] phrases = ["a picture of a {0}", "one {0} on black", "{0}"];
        var rng = new Cleft.Autograd.Rng((ulong)seed);
        Directory.CreateDirectory(Path.Combine(dir, "img"));
        var lines = new List<string> { "file,text,kind" };
        const int s = 24;
        var px = new byte[s * s];
        for (int i = 0; i < count; i++)
        {
            int k = i % kinds.Length;
            double cx = 12 + (rng.NextDouble() - 0.5) * 4, cy = 12 + (rng.NextDouble() - 0.5) * 4;
            for (int y = 0; y < s; y++)
                for (int x = 0; x < s; x++)
                {
                    double dx = x + 0.5 - cx, dy = y + 0.5 - cy, r = Math.Sqrt(dx * dx + dy * dy);
                    bool on = k switch { 0 => r is > 5 and < 8, 1 => Math.Abs(dy) < 2 && Math.Abs(dx) < 9, _ => Math.Abs(dx) < 5 && Math.Abs(dy) < 5 };
                    px[y * s + x] = (byte)Math.Clamp((on ? 200 : 20) + (int)(rng.NextNormal() * 15), 0, 255);
                }
            string file = $"img/{i:D4}.png";
            PngWriter.WriteGray(Path.Combine(dir, file), px, s, s);
            lines.Add($"{file},\"{string.Format(phrases[rng.NextInt(phrases.Length)], kinds[k])}\",{kinds[k]}");
        }
        string csv = Path.Combine(dir, "own.csv");
        File.WriteAllLines(csv, lines);
        return csv;
    }
}
