namespace Cleft.Train.Data;

/// <summary>
/// Hand-written zero-shot class prompts, one per class in class-index order (the stage-2 prompt learner
/// replaces the shared prefix with learned context tokens and keeps the class words).
/// </summary>
public static class ZeroShotPrompts
{
    /// <summary>CheXpert 5x200: prefix + class name lowercased, in <see cref="ChexpertManifest.FiveClasses"/> order.</summary>
    public static string[] Chexpert5x200() =>
        ChexpertManifest.FiveClasses.Select(c => ChexpertManifest.CaptionPrefix + ChexpertManifest.FindingWords(c)).ToArray();

    /// <summary>RSNA: class 0 "no findings", class 1 "pneumonia" (the released code's "pneumothorax" is a bug).</summary>
    public static string[] Rsna() => [ChexpertManifest.CaptionPrefix + "no findings", ChexpertManifest.CaptionPrefix + "pneumonia"];

    /// <summary>EMBED: the caption's task-specific clause after the shared prefix.</summary>
    public static string[] Embed(EmbedTask task) => task == EmbedTask.Birads
        ? Enumerable.Range(0, 7).Select(k => $"{EmbedManifest.CaptionPrefix} with BIRADS score {k}:{EmbedManifest.BiradsDescriptions[k]}.").ToArray()
        : Enumerable.Range(1, 4).Select(k => $"{EmbedManifest.CaptionPrefix} with breast tissue density {k}:{EmbedManifest.DensityDescriptions[k - 1]}.").ToArray();

    /// <summary>Class-name prompts for any manifest (the synthetic set uses the CheXpert rule).</summary>
    public static string[] ForClasses(IEnumerable<string> classNames) =>
        classNames.Select(c => ChexpertManifest.CaptionPrefix + ChexpertManifest.FindingWords(c)).ToArray();
}
