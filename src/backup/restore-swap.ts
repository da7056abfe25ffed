/**
 * How a restore replaces a data set without ever destroying the only copy.
 *
 * Everything happens inside the data set itself (a volume, or a bind
 * directory), so every move is a rename on one filesystem. With `<id>` the
 * restore's ID (a hash of the workflow ID, so every attempt of one workflow
 * finds the same directories):
 *
 *   .dockflow-restore-new-<id>/      the archive is extracted here (staging)
 *   .dockflow-restore-ready-<id>/    staging once read back and verified: the commit point
 *   .dockflow-restore-oldpart-<id>/  current contents being moved aside
 *   .dockflow-restore-old-<id>/      current contents, all aside
 *
 * 1. `begin`: if `ready` exists an earlier attempt committed: go to 4.
 *    Otherwise settle what restores of other workflows left (as in 4, with
 *    their IDs), remove `new` (an earlier attempt's partial extraction) and
 *    `old` (left by an earlier attempt that finished), create `new`.
 * 2. The archive is streamed into `new` through the Docker API as a tar
 *    that ends with one more entry, `new/.dockflow-restore-extracted`,
 *    sent only once the whole archive matched its manifest entry (sha256,
 *    size, tar size: src/backup/restore-stream.ts). The engine extracts in
 *    stream order, so the marker's presence in the data set proves that
 *    every entry before it was extracted there. The old contents have not
 *    been touched.
 * 3. `commit`: refuse (exit 4, nothing changed) when `new` has no marker (a
 *    stopping engine can acknowledge a write and keep nothing), else rename
 *    `new` to `ready`. From here the restore only goes forward.
 * 4. `finish` (also what `commit` does next): move every current entry into
 *    `oldpart`, rename it to `old`, move every entry of the restored tree
 *    into place, give the data set's root the archive's owner and mode,
 *    remove `ready`, then `old`.
 *
 * A crash anywhere leaves a state the next attempt (or the workflow's
 * settle step, which runs `finish`) recognises from which directories
 * exist: before the commit point the old contents are untouched and the
 * staging is discarded; after it, the swap is completed. Each data set thus
 * ends holding exactly its old contents or exactly the archive's.
 *
 * The script is fixed text: the restore ID arrives as an environment
 * variable and nothing from a manifest reaches it. Pure: workflows may
 * import this module.
 */
import { ARCHIVE_ROOT, shortHash } from './ids';

/** Where the restore helper mounts the data set. */
export const RESTORE_MOUNT = `/${ARCHIVE_ROOT}`;

/** The restore's ID in the directory names: every attempt of one workflow uses the same. */
export function restoreIdFor(workflowId: string): string {
  return shortHash(`restore:${workflowId}`);
}

export function stagingDirName(restoreId: string): string {
  return `.dockflow-restore-new-${restoreId}`;
}

export function keptAsideDirName(restoreId: string): string {
  return `.dockflow-restore-old-${restoreId}`;
}

/** The last entry of what a restore extracts, at the top of the staging directory: the whole archive went in. */
export const EXTRACTED_MARKER = '.dockflow-restore-extracted';

/** The commit step's exit status when the staging copy has no marker: not committed, extract again. */
export const NOT_EXTRACTED_EXIT = 4;

export type RestoreStep = 'begin' | 'commit' | 'finish';

/**
 * `sh -c RESTORE_SCRIPT dockflow-restore <step>` with DOCKFLOW_RESTORE_ID and
 * DOCKFLOW_RESTORE_ROOT in the environment. Prints `committed` or `staged`
 * (begin), and `finished`, `discarded` or `clean` (commit, finish).
 */
export const RESTORE_SCRIPT = `set -eu
case "$DOCKFLOW_RESTORE_ID" in *[!0-9a-f]*|'') echo "bad restore id" >&2; exit 2 ;; esac
cd "$DOCKFLOW_RESTORE_ROOT"
use() {
  new=".dockflow-restore-new-$1"
  ready=".dockflow-restore-ready-$1"
  part=".dockflow-restore-oldpart-$1"
  old=".dockflow-restore-old-$1"
  tree="$ready/${ARCHIVE_ROOT}"
}
# Move every entry of the current directory (dotfiles too) into $1, except restore directories.
move_aside() {
  for e in * .[!.]* ..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    case "$e" in .dockflow-restore-new-*|.dockflow-restore-ready-*|.dockflow-restore-oldpart-*|.dockflow-restore-old-*) continue ;; esac
    mv -- "$e" "$1/$e"
  done
}
finish() {
  if [ -d "$ready" ]; then
    if [ ! -d "$old" ]; then
      mkdir -p -- "$part"
      move_aside "$part"
      mv -- "$part" "$old"
    fi
    if [ -d "$tree" ]; then
      owner=$(stat -c %u:%g "$tree" 2>/dev/null || true)
      mode=$(stat -c %a "$tree" 2>/dev/null || true)
      for e in "$tree"/* "$tree"/.[!.]* "$tree"/..?*; do
        [ -e "$e" ] || [ -L "$e" ] || continue
        mv -- "$e" "./\${e##*/}"
      done
      [ -z "$owner" ] || chown "$owner" .
      [ -z "$mode" ] || chmod "$mode" .
    fi
    rm -rf -- "$ready"
    result=finished
  elif [ -d "$new" ]; then
    result=discarded
  else
    result=clean
  fi
  rm -rf -- "$new" "$old"
  echo "$result"
}
# What restores of other workflows left (the project lock means none is running): finished or discarded like our own.
settle_others() {
  for d in .dockflow-restore-*; do
    [ -d "$d" ] || continue
    other="\${d##*-}"
    case "$other" in "$DOCKFLOW_RESTORE_ID"|*[!0-9a-f]*|'') continue ;; esac
    use "$other"
    finish >/dev/null
  done
  use "$DOCKFLOW_RESTORE_ID"
}
use "$DOCKFLOW_RESTORE_ID"
case "$1" in
  begin)
    if [ -d "$ready" ]; then echo committed; exit 0; fi
    settle_others
    if [ -d "$part" ]; then echo "$part exists without $ready: left alone, restore refused" >&2; exit 3; fi
    rm -rf -- "$new" "$old"
    mkdir -- "$new"
    echo staged ;;
  commit)
    if [ ! -d "$ready" ]; then
      if [ ! -f "$new/${EXTRACTED_MARKER}" ]; then echo "the extracted copy has no ${EXTRACTED_MARKER}: it is not whole, not committed" >&2; exit ${NOT_EXTRACTED_EXIT}; fi
      mv -- "$new" "$ready"
    fi
    finish ;;
  finish)
    finish ;;
  *) echo "unknown step $1" >&2; exit 2 ;;
esac
`;
