// A participant's ratchet tree (RFC 9420 array representation) as SVG: node i sits at column
// i, row = its level; filled nodes are coloured by their public key, so the same key draws
// the same colour in every member's tree.
import type { TreeNode } from "nipee-wasm";
import { colourOf, fp, short } from "./util";

function level(x: number): number {
  let k = 0;
  while ((x >> k) & 1) k++;
  return k;
}

/** The parent of node `x` in a full tree of `full` nodes (RFC 9420 §4.1 array layout). */
function parentOf(x: number, full: number): number | null {
  const root = (full - 1) / 2;
  if (x === root) return null;
  const k = level(x);
  const b = (x >> (k + 1)) & 1;
  return (x | (1 << k)) ^ (b << (k + 1));
}

export interface TreeProps {
  nodes: TreeNode[];
  nameOf: (pubkey: string) => string;
  label: string;
}

export function Tree({ nodes, nameOf, label }: TreeProps) {
  const n = nodes.length;
  if (n === 0) return <p class="muted">No tree (not a member).</p>;
  // The nodes may stop at the last non-blank leaf; the layout is that of the full tree
  // (a power of two of leaves) they belong to.
  const leaves = 1 << Math.ceil(Math.log2(Math.max(1, Math.ceil((n + 1) / 2))));
  const full = 2 * leaves - 1;
  const maxLevel = level((full - 1) / 2);
  const dx = 34;
  const dy = 54;
  const w = Math.max(n * dx + 20, 120);
  const h = (maxLevel + 1) * dy + 40;
  const pos = (i: number) => ({ x: 10 + i * dx + dx / 2, y: 18 + (maxLevel - level(i)) * dy });
  const edges = [];
  for (const node of nodes) {
    const p = parentOf(node.index, full);
    if (p === null || p >= n) continue;
    const a = pos(node.index);
    const b = pos(p);
    const parent = nodes[p];
    const own = node.onOwnPath && parent?.onOwnPath;
    const commit = node.inLastCommitPath && parent?.inLastCommitPath;
    edges.push(
      <line
        key={`e${node.index}`}
        x1={a.x}
        y1={a.y}
        x2={b.x}
        y2={b.y}
        class={`edge${own ? " own" : ""}${commit ? " commit" : ""}`}
      />,
    );
  }
  const shapes = nodes.map((node) => {
    const { x, y } = pos(node.index);
    const fill = node.blank ? "none" : colourOf(node.publicKey, 72);
    const cls = [
      "node",
      node.blank ? "blank" : "filled",
      node.inLastCommitPath ? "commit" : "",
      node.onOwnPath ? "own-path" : "",
      node.leaf && node.onOwnPath ? "own-leaf" : "",
    ].join(" ");
    const who = node.member ? nameOf(node.member) : "";
    const title = [
      `node ${node.index} (${node.leaf ? `leaf ${node.index / 2}` : "parent"})`,
      node.blank ? "blank" : `public key ${node.publicKey ?? "?"}`,
      node.member ? `member ${who} (${short(node.member, 16)})` : "",
      node.parentHash ? `parent hash ${fp(node.parentHash)}` : "",
      node.unmergedLeaves.length ? `unmerged leaves ${node.unmergedLeaves.join(", ")}` : "",
      node.onOwnPath ? (node.leaf ? "own leaf" : "on own direct path") : "",
      node.inLastCommitPath ? "replaced by the last commit" : "",
    ]
      .filter(Boolean)
      .join("\n");
    return (
      <g key={`n${node.index}`} class={cls} data-index={node.index} data-key={node.publicKey ?? ""}>
        <title>{title}</title>
        {node.leaf ? (
          <rect x={x - 13} y={y - 13} width={26} height={26} rx={5} fill={fill} />
        ) : (
          <circle cx={x} cy={y} r={13} fill={fill} />
        )}
        <text x={x} y={y + 4} class="node-label">
          {node.blank ? "" : fp(node.publicKey).slice(0, 2)}
        </text>
        {node.leaf && !node.blank && (
          <text x={x} y={y + 27} class="leaf-name">
            {short(who, 6)}
          </text>
        )}
        {node.unmergedLeaves.length > 0 && (
          <text x={x} y={y - 17} class="unmerged">
            u:{node.unmergedLeaves.join(",")}
          </text>
        )}
      </g>
    );
  });
  return (
    <>
      <svg class="tree" viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={label}>
        {edges}
        {shapes}
      </svg>
      <details class="tree-table">
        <summary>Nodes as a table</summary>
        <table>
          <caption class="sr-only">{label}</caption>
          <thead>
            <tr>
              <th scope="col">node</th>
              <th scope="col">member</th>
              <th scope="col">public key</th>
              <th scope="col">parent hash</th>
              <th scope="col">unmerged</th>
              <th scope="col">marks</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((node) => (
              <tr key={node.index}>
                <td>
                  {node.index} {node.leaf ? `(leaf ${node.index / 2})` : ""}
                </td>
                <td>{node.member ? nameOf(node.member) : ""}</td>
                <td>
                  <code>{node.blank ? "blank" : fp(node.publicKey)}</code>
                </td>
                <td>
                  <code>{node.parentHash ? fp(node.parentHash) : ""}</code>
                </td>
                <td>{node.unmergedLeaves.join(", ")}</td>
                <td>
                  {[node.onOwnPath ? "own path" : "", node.inLastCommitPath ? "last commit" : ""].filter(Boolean).join(", ")}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </>
  );
}

export function TreeLegend() {
  return (
    <p class="legend" aria-label="tree legend">
      <span class="lg lg-leaf">leaf</span> <span class="lg lg-parent">parent</span>{" "}
      <span class="lg lg-blank">blank</span> <span class="lg lg-own">own leaf and direct path</span>{" "}
      <span class="lg lg-commit">replaced by the last commit</span> <span class="lg">u: unmerged leaves</span>{" "}
      <span class="muted">colour = public key; hover a node for its fingerprint</span>
    </p>
  );
}
