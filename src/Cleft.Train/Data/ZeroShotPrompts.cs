using Cleft.Models.Recipe;

namespace Cleft.Train.Data;

/// <summary>
/// Hand-written zero-shot class prompts, one per class in class-index order (the stage-2 prompt learner
/// replaces the template's phrase with learned context tokens and keeps the class words).
/// </summary>
public static class ZeroShotPrompts
{
    /// <summary>CheXpert 5x200: the CheXpert template with each class's words, in <see cref="ChexpertManifest.FiveClasses"/> order.</summary>
    public static string[] Chexpert5x200(string template = ZeroShotClassifier.ChexpertTemplate) =>
        ForClasses(ChexpertManifest.FiveClasses, template);

    /// <summary>RSNA: class 0 "no findings", class 1 "pneumonia" (the released code's "pneumothorax" is a bug).</summary>
    public static string[] Rsna(string template = ZeroShotClassifier.ChexpertTemplate) =>
        ZeroShotClassifier.Prompts(["no findings", "pneumonia"], template);

    /// <summary>EMBED: the caption's task-specific clause after the shared prefix.</summary>
    public static string[] Embed(EmbedTask task) => task == EmbedTask.Birads
        ? Enumerable.Range(0, 7).Select(k => $"{EmbedManifest.CaptionPrefix} with BIRADS score {k}:{EmbedManifest.BiradsDescriptions[k]}.").ToArray()
        : Enumerable.Range(1, 4).Select(k => $"{EmbedManifest.CaptionPrefix} with breast tissue density {k}:{EmbedManifest.DensityDescriptions[k - 1]}.").ToArray();

    /// <summary>
    /// Class-name prompts for any manifest: <paramref name="template"/> with each class name's words
    /// (<see cref="ChexpertManifest.FindingWords"/>: lowercase, punctuation dropped). The default is CheXpert's
    /// template, which the chest-like synthetic set also uses.
    /// </summary>
    public static string[] ForClasses(IEnumerable<string> classNames, string template = ZeroShotClassifier.ChexpertTemplate) =>
        ZeroShotClassifier.Prompts(classNames.Select(ChexpertManifest.FindingWords), template);
}
