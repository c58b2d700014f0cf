using System.Text.Json;
using Cleft.Fuzz;

// Cleft.Fuzz FORMAT CASES SEED FIXTURES_DIR FAILURE_DIR [--case N]
// Runs one format's batch and prints "CASE i" before each case, then one "RESULT {json}" line (FormatResult).
// tests/Cleft.Tests/Fuzz runs one process per format, so a crash or hang ends only that format's row.
if (args.Length is not (5 or 7) || !int.TryParse(args[1], out int cases) || !ulong.TryParse(args[2], out ulong seed))
{
    Console.Error.WriteLine($"usage: Cleft.Fuzz FORMAT CASES SEED FIXTURES_DIR FAILURE_DIR [--case N]; formats: {string.Join(", ", FuzzFormats.Names)}");
    return 2;
}
int? only = args.Length == 7 && args[5] == "--case" && int.TryParse(args[6], out int n) ? n : null;
string scratch = Directory.CreateTempSubdirectory("cleft-fuzz-").FullName;
try
{
    var format = FuzzFormats.Create(args[0], args[3], scratch);
    var result = FuzzRunner.Run(format, cases, seed, args[4], only, Console.Out);
    Console.WriteLine("RESULT " + JsonSerializer.Serialize(result));
    return 0;
}
finally { Directory.Delete(scratch, recursive: true); }
