// Kubernetes v1 Pod manifests: parse (with line numbers), apply, delete. See docs/DESIGN.md.
export {
  parseManifest, podNamesInManifest, expandVars, ManifestError,
  type PodManifest, type ContainerManifest, type ParsedManifest, type PodSource, type RestartPolicy,
} from './parse.js';
export { applyManifest, deleteFromManifest, appliedConfiguration, LAST_APPLIED, type ApplyOptions, type ApplyResult, type DeleteFromManifestOptions } from './apply.js';
