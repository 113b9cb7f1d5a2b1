/**
 * Which images and rendered trees existing pods use, read from their pod directories: the app
 * image IDs of the pod manifest, the stage1 tree (`stage1TreeStoreID`) and the apps' trees
 * (`appsinfo/<app>/treeStoreID`). `rkt image rm` refuses to remove these images and
 * `rkt image gc` keeps them.
 */
import { readdirSync } from 'node:fs';
import { appTreeStoreIdPath, appsInfoDir, listPods, podManifestPath, readFileTolerant, stage1TreeStoreIdPath, type PodDirState } from '@rktnetes/common';
import { isRktError } from '@rktnetes/errors';
import { parsePodManifest } from '@rktnetes/schema';
import type { Store } from '@rktnetes/store';

/** What one pod references. */
export interface PodReferences {
  uuid: string;
  state: PodDirState;
  /** image IDs of the apps in the pod manifest, as written there */
  imageIDs: string[];
  /** tree store IDs of the stage1 and the apps */
  treeStoreIDs: string[];
}

/** The pod directory states whose pods are about to run or running (`rkt image rm` protects their images). */
export const ACTIVE_POD_STATES: readonly PodDirState[] = ['prepare', 'prepared', 'run'];

/**
 * The references of every pod in `states`. A pod whose manifest cannot be read or parsed yet
 * (a pod being created) contributes its tree IDs only; `warn` hears about broken manifests.
 */
export async function podReferences(dataDir: string, states: readonly PodDirState[], warn: (msg: string) => void): Promise<PodReferences[]> {
  const out: PodReferences[] = [];
  for (const pod of await listPods(dataDir, states)) {
    const refs: PodReferences = { uuid: pod.uuid, state: pod.state, imageIDs: [], treeStoreIDs: [] };
    const text = await readFileTolerant(podManifestPath(pod.path));
    if (text !== undefined) {
      try {
        for (const app of parsePodManifest(text).apps) refs.imageIDs.push(app.image.id.toLowerCase());
      } catch (e) {
        if (!isRktError(e)) throw e;
        warn(`pod ${pod.uuid}: cannot read its manifest: ${e.message}`);
      }
    }
    const stage1 = (await readFileTolerant(stage1TreeStoreIdPath(pod.path)))?.trim();
    if (stage1) refs.treeStoreIDs.push(stage1);
    for (const app of listDirTolerant(appsInfoDir(pod.path))) {
      let id: string | undefined;
      try {
        id = (await readFileTolerant(appTreeStoreIdPath(pod.path, app)))?.trim();
      } catch (e) {
        // an entry that is not a valid app name is not an app of this pod
        if (!isRktError(e)) throw e;
      }
      if (id) refs.treeStoreIDs.push(id);
    }
    out.push(refs);
  }
  return out;
}

function listDirTolerant(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** `sha512-` and 32 hex digits: the shortest pod manifest image ID matched as a prefix. */
const MIN_PREFIX_LENGTH = 'sha512-'.length + 32;

/**
 * Maps image keys of `store` to the pods using them: an app image ID with at least 32 hex
 * digits matches every key it is a prefix of (pod manifests may carry a shortened ID), a
 * shorter one only an equal key; a referenced tree counts for the image it was rendered for.
 */
export function imageUsers(store: Store, pods: readonly PodReferences[]): Map<string, PodReferences[]> {
  const users = new Map<string, PodReferences[]>();
  const add = (key: string, pod: PodReferences) => {
    const list = users.get(key) ?? [];
    if (!list.includes(pod)) list.push(pod);
    users.set(key, list);
  };
  if (pods.length === 0) return users;
  const keys = store.listImages().map((i) => i.key);
  const treeImages = new Map(store.listTrees().map((t) => [t.treeStoreID, t.image]));
  for (const pod of pods) {
    for (const id of pod.imageIDs) {
      // a shortened ID (rkt writes 64 hex digits) matches as a prefix; anything shorter only exactly
      const prefix = id.length >= MIN_PREFIX_LENGTH;
      for (const k of keys) if (prefix ? k.startsWith(id) : k === id) add(k, pod);
    }
    for (const t of pod.treeStoreIDs) {
      const img = treeImages.get(t);
      if (img) add(img, pod);
    }
  }
  return users;
}
