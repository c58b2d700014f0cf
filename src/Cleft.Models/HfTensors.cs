namespace Cleft.Models;

/// <summary>What every Hugging Face checkpoint loader needs: torch's [out, in] Linear layout turned into ours, and shapes in messages.</summary>
internal static class HfTensors
{
    /// <summary>A row-major [rows, cols] matrix transposed to [cols, rows].</summary>
    public static float[] Transpose(float[] v, int rows, int cols)
    {
        var t = new float[v.Length];
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < cols; k++) t[k * rows + r] = v[r * cols + k];
        return t;
    }

    public static string Shape(int[] s) => "[" + string.Join(", ", s) + "]";
}
