namespace Cleft.Train.Data;

/// <summary>An image that is missing, unreadable or not a decodable PNG/JPEG. The message always names the file.</summary>
public sealed class ImageLoadException(string path, string reason, Exception? inner = null)
    : Exception($"cannot load image '{path}': {reason}", inner)
{
    public string FilePath { get; } = path;
}
