using Cleft.Autograd;
using Cleft.Kernels;

namespace Cleft.Models.Vision;

/// <summary>Host pixels [B, C, S, S] as a (scoped) device tensor, checked against the image tower's shape.</summary>
public static class PixelBatch
{
    public static Tensor ToTensor(IBackend device, float[] pixels, int batch, int imageSize, int channels, string model)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        int s = imageSize, c = channels;
        if (batch <= 0 || pixels.Length != batch * c * s * s)
            throw new ArgumentException($"{model}: {pixels.Length} pixel values for a batch of {batch} images [{c}, {s}, {s}]");
        return Tensor.FromArray(device, pixels, batch, c, s, s);
    }
}
