using System.Globalization;
using Cleft.Autograd;

namespace Cleft.Train.Data;

/// <summary>
/// A generated stand-in for CheXpert so the end-to-end demo needs no downloads: small grayscale "chest"
/// images (a dark thorax with two lung fields) where each of the five 5x200 findings leaves its own mark —
/// Atelectasis a flat band low in the left lung, Edema fine bright speckle over both lungs, Cardiomegaly a
/// large bright disc at the centre bottom, Pleural Effusion a bright fluid level at the bottom, Consolidation
/// a bright blob high in the right lung. Each image has one primary finding (so its 5x200 label is that class)
/// and, with probability 0.3, one more finding later in the class order (so "first positive" still picks the
/// primary one and captions vary). Positions, sizes and noise are jittered. Deterministic by seed.
/// </summary>
public static class SyntheticChest
{
    public const string ImageFolder = "images";
    public const string ManifestName = "manifest.csv";
    /// <summary>Seeded 70 / 10 / 20 splits of the manifest's rows, written beside it.</summary>
    public static readonly (string File, double Fraction)[] SplitFiles = [("train.csv", 0.7), ("val.csv", 0.1), ("test.csv", 0.2)];

    /// <summary>
    /// Writes <paramref name="count"/> PNGs and <c>manifest.csv</c> into <paramref name="outDir"/>, plus train / val /
    /// test CSVs (<see cref="SplitFiles"/>); returns the manifest path. The CSVs carry CheXpert's columns and the
    /// generic ones (<c>caption</c>, and <c>label</c> = the 5x200 class name), so both manifest formats read them.
    /// </summary>
    public static string Generate(string outDir, int count, ulong seed, int size = 64, TextWriter? log = null)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), "count must be positive");
        if (size < 16) throw new ArgumentOutOfRangeException(nameof(size), "image size must be at least 16");
        Directory.CreateDirectory(Path.Combine(outDir, ImageFolder));
        var rng = new Rng(seed);
        var lines = new List<string> { "Path,AP/PA," + string.Join(',', ChexpertManifest.Findings.Select(Quote)) + ",caption,label" };
        var pixels = new byte[size * size];
        int every = Math.Max(1, count / 10);
        for (int i = 0; i < count; i++)
        {
            int primary = rng.NextInt(ChexpertManifest.FiveClasses.Length);
            var findings = new List<int> { primary };
            if (primary < 4 && rng.NextDouble() < 0.3) findings.Add(primary + 1 + rng.NextInt(4 - primary));
            Render(pixels, size, findings, rng);
            string rel = $"{ImageFolder}/{i:D6}.png";
            PngWriter.WriteGray(Path.Combine(outDir, rel), pixels, size, size);
            var names = findings.Select(f => ChexpertManifest.FiveClasses[f]).ToHashSet();
            var cells = ChexpertManifest.Findings.Select(f => names.Contains(f) ? "1.0" : (rng.NextDouble() < 0.1 ? "0.0" : ""));
            string caption = ChexpertManifest.Caption(ChexpertManifest.Findings.Where(names.Contains));
            lines.Add($"{rel},{(rng.NextDouble() < 0.5 ? "AP" : "PA")},{string.Join(',', cells)},{Quote(caption)},{Quote(ChexpertManifest.FiveClasses[primary])}");
            if (log is not null && ((i + 1) % every == 0 || i + 1 == count)) log.WriteLine($"synth: {i + 1}/{count} images");
        }
        string manifest = Path.Combine(outDir, ManifestName);
        File.WriteAllLines(manifest, lines);
        var order = Splits.Permutation(count, seed ^ 0x5EED5EED5EEDUL);
        int start = 0;
        foreach (var (i, (file, fraction)) in SplitFiles.Index())
        {
            int n = i == SplitFiles.Length - 1 ? count - start : (int)Math.Round(count * fraction);
            var rows = order.Skip(start).Take(n).Order().Select(r => lines[r + 1]);
            File.WriteAllLines(Path.Combine(outDir, file), rows.Prepend(lines[0]));
            start += n;
        }
        log?.WriteLine($"synth: wrote {manifest} and {string.Join(", ", SplitFiles.Select(f => f.File))}");
        return manifest;
    }

    static string Quote(string s) => s.Contains(',') || s.Contains('"') ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;

    /// <summary>Draws one image for the given 5x200 class indices into <paramref name="pixels"/> (size x size bytes).</summary>
    public static void Render(byte[] pixels, int size, IReadOnlyList<int> findings, Rng rng)
    {
        var f = new float[size * size];
        double S = size;
        // thorax: a soft ellipse, two darker lung fields
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                double u = (x + 0.5) / S, v = (y + 0.5) / S;
                double body = Ellipse(u, v, 0.5, 0.55, 0.45, 0.48);
                double lungs = Ellipse(u, v, 0.32, 0.45, 0.13, 0.3) + Ellipse(u, v, 0.68, 0.45, 0.13, 0.3);
                f[y * size + x] = (float)(0.05 + 0.45 * body - 0.25 * Math.Min(1, lungs));
            }
        double J() => (rng.NextDouble() - 0.5) * 0.06; // position jitter
        foreach (int c in findings)
        {
            switch (c)
            {
                case 0: AddShape(f, size, 0.30 + J(), 0.65 + J(), 0.12, 0.03, 0.45); break;                    // atelectasis: flat band, left lower
                case 1: for (int k = 0; k < size / 2; k++)                                                      // edema: speckle over both lungs
                        AddShape(f, size, (rng.NextDouble() < 0.5 ? 0.32 : 0.68) + (rng.NextDouble() - 0.5) * 0.2, 0.45 + (rng.NextDouble() - 0.5) * 0.45, 0.018, 0.018, 0.35);
                    break;
                case 2: AddShape(f, size, 0.52 + J(), 0.68 + J(), 0.2 + J() / 2, 0.16, 0.4); break;             // cardiomegaly: big central disc
                case 3: for (int y = (int)(size * (0.82 + J())); y < size; y++)                                  // effusion: fluid level
                        for (int x = size / 8; x < size - size / 8; x++) f[y * size + x] += 0.4f;
                    break;
                case 4: AddShape(f, size, 0.68 + J(), 0.32 + J(), 0.08, 0.08, 0.5); break;                      // consolidation: right upper blob
            }
        }
        for (int i = 0; i < f.Length; i++)
            pixels[i] = (byte)Math.Clamp((int)Math.Round((f[i] + 0.03 * rng.NextNormal()) * 255), 0, 255);
    }

    static double Ellipse(double u, double v, double cu, double cv, double ru, double rv)
    {
        double d = ((u - cu) / ru) * ((u - cu) / ru) + ((v - cv) / rv) * ((v - cv) / rv);
        return Math.Exp(-d * d); // flat top, soft edge
    }

    static void AddShape(float[] f, int size, double cu, double cv, double ru, double rv, double amount)
    {
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                f[y * size + x] += (float)(amount * Ellipse((x + 0.5) / size, (y + 0.5) / size, cu, cv, ru, rv));
    }

    public static string Describe(int count, ulong seed, int size) =>
        string.Create(CultureInfo.InvariantCulture, $"{count} synthetic {size}x{size} chest images, seed {seed}");
}
