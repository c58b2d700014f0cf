namespace Cleft.Train.Data;

/// <summary>
/// An image that is missing, unreadable, truncated, too large or not a decodable PNG/JPEG. The message always
/// names the file and says why; <see cref="Reason"/> is the why alone (never blank).
/// </summary>
public sealed class ImageLoadException(string path, string reason, Exception? inner = null)
    : Exception($"cannot load image '{path}': {NonBlank(reason)}", inner)
{
    public string FilePath { get; } = path;
    public string Reason { get; } = reason;

    // A blank reason is a bug at the throw site (a decoder exception with an empty message passed through);
    // failing here makes it show up in tests instead of as "cannot load image 'x': " in a training log.
    static string NonBlank(string reason) =>
        string.IsNullOrWhiteSpace(reason) ? throw new ArgumentException("an ImageLoadException needs a reason", nameof(reason)) : reason;
}
