using System.Buffers.Binary;
using System.Text;

namespace Cleft.Fuzz;

/// <summary>
/// Seeded mutations of a valid file: bit flips, random bytes, truncation, splices from another seed, deleted and
/// repeated ranges, and extreme numbers written where a header keeps its sizes and offsets. Text formats (CSV,
/// JSON) also get extreme numbers in place of their digit runs and stray structural characters. The same
/// (seed bytes, donors, case seed) always gives the same output, so a case is reproduced from its index alone.
/// </summary>
public static class Mutator
{
    /// <summary>Inputs never grow past this multiple of the seed (plus 4 KB), so a case stays a case, not a load test.</summary>
    const int MaxGrowth = 4;

    /// <summary>Little-endian and big-endian patterns that trip size arithmetic: zero, one, all ones, sign bits, just past 2^31.</summary>
    static readonly ulong[] ExtremeValues =
    [
        0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
        0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
    ];

    /// <summary>Replacements for a number in a text format: out of every integer range, negative, huge, non-finite.</summary>
    static readonly string[] ExtremeTokens =
    [
        "0", "-0", "-1", "2147483647", "2147483648", "-2147483649", "4294967296", "9223372036854775807", "9223372036854775808",
        "18446744073709551616", "-9223372036854775809", "99999999999999999999999999999999", "1e308", "1e400", "-1e400", "1.5",
        "NaN", "Infinity", "0x10", "1_000",
    ];

    /// <summary>Characters that break a text format's structure: quotes, separators, brackets, escapes, controls, a BOM.</summary>
    static readonly string[] TextTokens = ["\"", ",", "\n", "\r\n", "{", "}", "[", "]", ":", "\\", "\\u0000", "\\ud800", "\0", "\uFEFF", "null", "\"\"", "é"];

    public static byte[] Mutate(byte[] seed, IReadOnlyList<byte[]> donors, ulong caseSeed, bool text)
    {
        var r = new Random(unchecked((int)caseSeed ^ (int)(caseSeed >> 32)));
        var b = new List<byte>(seed);
        int ops = 1 + r.Next(4);
        for (int k = 0; k < ops; k++)
        {
            switch (r.Next(text ? 9 : 7))
            {
                case 0: BitFlip(b, r); break;
                case 1: if (b.Count > 0) b[Position(b, r)] = (byte)r.Next(256); break;
                // A cut anywhere ends nearly every parse at once, so it is one draw in three of its slot.
                case 2: if (b.Count > 0 && r.Next(3) == 0) { int cut = r.Next(b.Count); b.RemoveRange(cut, b.Count - cut); } else BitFlip(b, r); break;
                case 3: Splice(b, donors[r.Next(donors.Count)], r, seed.Length * MaxGrowth + 4096); break;
                case 4: DeleteRange(b, r); break;
                case 5: RepeatRange(b, r, seed.Length * MaxGrowth + 4096); break;
                case 6: if (text) ExtremeToken(b, r); else ExtremeBinary(b, r); break;
                case 7: ExtremeToken(b, r); break;
                default: b.InsertRange(r.Next(b.Count + 1), Encoding.UTF8.GetBytes(TextTokens[r.Next(TextTokens.Length)])); break;
            }
        }
        // Mutations can cancel out (the same bit flipped twice, a value written over itself); a case is never the seed.
        while (b.Count == seed.Length && b.SequenceEqual(seed)) BitFlip(b, r);
        return [.. b];
    }

    /// <summary>Positions cluster in the first 512 bytes half the time: that is where headers are.</summary>
    static int Position(List<byte> b, Random r) => r.Next(2) == 0 ? r.Next(Math.Min(b.Count, 512)) : r.Next(b.Count);

    static void BitFlip(List<byte> b, Random r)
    {
        if (b.Count == 0) return;
        int flips = 1 + r.Next(4);
        for (int i = 0; i < flips; i++) { int p = Position(b, r); b[p] ^= (byte)(1 << r.Next(8)); }
    }

    /// <summary>A chunk of a donor (another seed of the format, or this one) overwrites or is inserted at a random point.</summary>
    static void Splice(List<byte> b, byte[] donor, Random r, int maxLength)
    {
        if (donor.Length == 0) return;
        int from = r.Next(donor.Length), length = 1 + r.Next(Math.Min(donor.Length - from, 256));
        int at = r.Next(b.Count + 1);
        var chunk = donor.AsSpan(from, length).ToArray();
        if (r.Next(2) == 0 && at + length <= b.Count) { for (int i = 0; i < length; i++) b[at + i] = chunk[i]; }
        else if (b.Count + length <= maxLength) b.InsertRange(at, chunk);
    }

    static void DeleteRange(List<byte> b, Random r)
    {
        if (b.Count == 0) return;
        int at = r.Next(b.Count);
        b.RemoveRange(at, 1 + r.Next(Math.Min(b.Count - at, 64)));
    }

    static void RepeatRange(List<byte> b, Random r, int maxLength)
    {
        if (b.Count == 0) return;
        int at = r.Next(b.Count), length = 1 + r.Next(Math.Min(b.Count - at, 64)), times = 1 + r.Next(8);
        if (b.Count + length * times > maxLength) return;
        var chunk = b.GetRange(at, length);
        for (int t = 0; t < times; t++) b.InsertRange(at, chunk);
    }

    /// <summary>An extreme value of 1, 2, 4 or 8 bytes, little- or big-endian, over the bytes at a header-biased position.</summary>
    static void ExtremeBinary(List<byte> b, Random r)
    {
        int width = 1 << r.Next(4);
        if (b.Count < width) return;
        ulong v = ExtremeValues[r.Next(ExtremeValues.Length)];
        Span<byte> w = stackalloc byte[8];
        if (r.Next(2) == 0) BinaryPrimitives.WriteUInt64LittleEndian(w, v);
        else { BinaryPrimitives.WriteUInt64BigEndian(w, v); w = w[(8 - width)..]; }
        int at = Math.Min(Position(b, r), b.Count - width);
        for (int i = 0; i < width; i++) b[at + i] = w[i];
    }

    /// <summary>A run of digits (a size, a count, an offset) becomes an extreme number; with no digits, one is inserted.</summary>
    static void ExtremeToken(List<byte> b, Random r)
    {
        var runs = new List<(int At, int Length)>();
        for (int i = 0; i < b.Count; i++)
        {
            if (!char.IsAsciiDigit((char)b[i])) continue;
            int j = i;
            while (j < b.Count && char.IsAsciiDigit((char)b[j])) j++;
            runs.Add((i, j - i));
            i = j;
        }
        var token = Encoding.ASCII.GetBytes(ExtremeTokens[r.Next(ExtremeTokens.Length)]);
        if (runs.Count == 0) { b.InsertRange(r.Next(b.Count + 1), token); return; }
        var (at, length) = runs[r.Next(runs.Count)];
        b.RemoveRange(at, length);
        b.InsertRange(at, token);
    }
}
