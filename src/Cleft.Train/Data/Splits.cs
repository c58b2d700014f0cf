using Cleft.Autograd;

namespace Cleft.Train.Data;

/// <summary>Seeded index splits. Every result is sorted, so subsets keep manifest order.</summary>
public static class Splits
{
    /// <summary>The linear-probe sampling seed (docs/RECIPE.md §eval).</summary>
    public const ulong ProbeSeed = 42;

    /// <summary>Random train/validation split: the first round(n * valFraction) of a seeded permutation are validation.</summary>
    public static (int[] Train, int[] Val) TrainVal(int count, double valFraction, ulong seed)
    {
        if (valFraction is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(valFraction), valFraction, "must be in [0, 1)");
        var perm = Permutation(count, seed);
        int nVal = (int)Math.Round(count * valFraction);
        var val = perm[..nVal]; var train = perm[nVal..];
        Array.Sort(val); Array.Sort(train);
        return (train, val);
    }

    /// <summary>
    /// A <paramref name="fraction"/> (0.01, 0.1, 1.0) of the indices: the first ceil(n * fraction) (at least 1) of
    /// one seeded permutation. Because every fraction is a prefix of the same permutation, 1% ⊂ 10% ⊂ 100%.
    /// </summary>
    public static int[] Fraction(int count, double fraction, ulong seed = ProbeSeed)
    {
        if (fraction is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "must be in (0, 1]");
        int n = Math.Min(count, Math.Max(1, (int)Math.Ceiling(count * fraction - 1e-9)));
        var pick = Permutation(count, seed)[..n];
        Array.Sort(pick);
        return pick;
    }

    public static int[] Permutation(int count, ulong seed)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        var p = Enumerable.Range(0, count).ToArray();
        new Rng(seed).Shuffle<int>(p);
        return p;
    }
}
