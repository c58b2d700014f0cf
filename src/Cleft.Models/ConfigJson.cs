using System.Text.Json;

namespace Cleft.Models;

/// <summary>
/// Typed reads of optional fields from a Hugging Face config.json (ViT, BERT): null when the field is absent or
/// JSON null, an InvalidDataException naming the file and the field when it has the wrong type.
/// </summary>
internal static class ConfigJson
{
    public static JsonElement? Field(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public static double? Num(JsonElement root, string name, string path) => Field(root, name) is not { } v ? null
        : v.ValueKind == JsonValueKind.Number ? v.GetDouble()
        : throw new InvalidDataException($"{path}: {name} must be a number, got {v.GetRawText()}");

    public static bool? Bool(JsonElement root, string name, string path) => Field(root, name) is not { } v ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw new InvalidDataException($"{path}: {name} must be true or false, got {v.GetRawText()}");

    public static string? Str(JsonElement root, string name, string path) => Field(root, name) is not { } v ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw new InvalidDataException($"{path}: {name} must be a string, got {v.GetRawText()}");
}
