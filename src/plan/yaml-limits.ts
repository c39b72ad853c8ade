/**
 * Limits on the shape of plan text, checked before anything recursive sees it: the yaml library composes documents,
 * resolves aliases and converts to JavaScript recursively, and so do zod and the cross-field checks. A plan nested
 * a thousand levels deep would otherwise end in "Maximum call stack size exceeded" instead of an issue with a line.
 *
 * Every check here is a loop (walks keep an explicit stack), so no input can exhaust the call stack. Imports only yaml.
 */
import { CST, isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node as YamlNode } from 'yaml';

/** The largest plan text accepted, in UTF-8 bytes: the largest plan in plans/ is about 60 KiB. */
export const MAX_PLAN_BYTES = 1024 * 1024;
/** The deepest nesting of lists and mappings accepted, aliases expanded: the plans in plans/ nest seven levels. */
export const MAX_PLAN_DEPTH = 64;
/** The most values (scalars, lists, mappings, keys included) accepted, aliases expanded: the plans in plans/ have at most about 3,600. */
export const MAX_PLAN_NODES = 100_000;
/**
 * The most indicators ("- ", "? ", ": ") and node properties (&anchor, !tag) accepted in a row on one line. The yaml
 * library's lexer reads such a run with one nested call per item and overflows the stack at about 5,000; a plan
 * writes at most a few ("- &runbook !!seq").
 */
export const MAX_INDICATOR_RUN = 2 * MAX_PLAN_DEPTH;
/**
 * The most aliases, and the most anchors, accepted: the yaml library resolves each alias by scanning every alias and
 * anchor before it, so tens of thousands take seconds to minutes. The plans in plans/ use at most 15.
 */
export const MAX_PLAN_ALIASES = 1_000;

/** Where a limit was passed, as an offset into the text and a path in the plan (empty for the text as a whole), and what was wrong. */
export interface ShapeProblem {
  offset: number;
  path: Array<string | number>;
  message: string;
}

/** The way up from a node to the root, one key or index at a time: built as a walk goes down, read only on a problem. */
interface Step {
  key: string | number | (() => string);
  up: Step | undefined;
}

function pathOf(step: Step | undefined): Array<string | number> {
  const path: Array<string | number> = [];
  for (let at = step; at; at = at.up) path.push(typeof at.key === 'function' ? at.key() : at.key);
  return path.reverse();
}

/**
 * Checks the size of the text. Returns the offset of the first byte past the limit, so the issue can name a line.
 * Cheap: bytes are only counted when the text could be over the limit (a UTF-16 unit is at most 3 UTF-8 bytes).
 */
export function checkTextSize(text: string): ShapeProblem | undefined {
  if (text.length * 3 <= MAX_PLAN_BYTES) return undefined;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // A surrogate pair (4 bytes) counts as 2 + 2; every other unit as 1, 2 or 3.
    bytes += code < 0x80 ? 1 : code < 0x800 || (code >= 0xd800 && code < 0xe000) ? 2 : 3;
    if (bytes > MAX_PLAN_BYTES) {
      return { offset: i, path: [], message: `a plan may be at most ${MAX_PLAN_BYTES / 1024} KiB (${MAX_PLAN_BYTES} bytes); the text passes that here` };
    }
  }
  return undefined;
}

/**
 * Checks the text for runs of more than {@link MAX_INDICATOR_RUN} indicators or properties on one line, before the
 * yaml lexer sees them. Reads the text without knowing YAML's context, so it also counts such runs inside strings and
 * comments; a few hundred "- " in a row is no plan's text either way.
 */
export function checkIndicatorRuns(text: string): ShapeProblem | undefined {
  let run = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === TAB) {
      i++;
      continue;
    }
    let end = -1;
    if ((c === DASH || c === QUESTION || c === COLON) && endsIndicator(text.charCodeAt(i + 1))) end = i + 1;
    else if (c === AMPERSAND || c === BANG) for (end = i + 1; end < text.length && !isBlank(text.charCodeAt(end)); end++);
    if (end === -1) {
      run = 0;
      i++;
      continue;
    }
    if (++run > MAX_INDICATOR_RUN) {
      return { offset: i, path: [], message: `more than ${MAX_INDICATOR_RUN} indicators ("- ", "? ", ": ") or anchors and tags in a row on one line; a plan needs a few` };
    }
    i = end;
  }
  return undefined;
}

const [SPACE, TAB, LF, CR, DASH, QUESTION, COLON, AMPERSAND, BANG] = [' ', '\t', '\n', '\r', '-', '?', ':', '&', '!'].map((c) => c.charCodeAt(0));
const FLOW = new Set([',', '[', ']', '{', '}'].map((c) => c.charCodeAt(0)));

/** Past the end of the text (NaN), a space, a tab or a line break. */
function isBlank(c: number): boolean {
  return Number.isNaN(c) || c === SPACE || c === TAB || c === LF || c === CR;
}

/** What may follow "-", "?" or ":" for the lexer to read it as an indicator (flow punctuation only after ":", but counting more is safe). */
function endsIndicator(c: number): boolean {
  return isBlank(c) || FLOW.has(c);
}

/**
 * Checks the parsed syntax tree (the yaml library's CST, which its parser builds without recursion) for nesting deeper
 * than {@link MAX_PLAN_DEPTH} and more than {@link MAX_PLAN_NODES} values, before the tree is composed into a document.
 * Aliases are counted here as single values; {@link checkDocument} measures what they expand to.
 */
export function checkSyntaxTree(tokens: readonly CST.Token[]): ShapeProblem | undefined {
  // Depth counts the lists and mappings around a token; pushed in reverse so tokens are visited in text order.
  type Entry = { token: CST.Token; depth: number; step: Step | undefined };
  const stack: Entry[] = tokens.map((token): Entry => ({ token, depth: 0, step: undefined })).reverse();
  let nodes = 0;
  for (let next = stack.pop(); next; next = stack.pop()) {
    const { token, depth, step } = next;
    switch (token.type) {
      case 'document':
        if (token.value) stack.push({ token: token.value, depth, step });
        continue;
      case 'block-map':
      case 'block-seq':
      case 'flow-collection': {
        if (depth >= MAX_PLAN_DEPTH) return { offset: token.offset, path: pathOf(step), message: tooDeep() };
        const isMapping = token.type === 'block-map' || (token.type === 'flow-collection' && token.start.source === '{');
        for (let i = token.items.length - 1; i >= 0; i--) {
          const item = token.items[i] as CST.CollectionItem;
          const key = item.key;
          const child: Step = { key: isMapping ? () => keyText(key) : i, up: step };
          if (item.value) stack.push({ token: item.value, depth: depth + 1, step: child });
          if (key) stack.push({ token: key, depth: depth + 1, step: child });
        }
        break;
      }
      case 'alias':
      case 'scalar':
      case 'single-quoted-scalar':
      case 'double-quoted-scalar':
      case 'block-scalar':
        break;
      default:
        // Comments, indicators, directives, errors: not values.
        continue;
    }
    if (++nodes > MAX_PLAN_NODES) return { offset: token.offset, path: pathOf(step), message: tooMany() };
  }
  return undefined;
}

/** A mapping key in the syntax tree as text: its value when it is a scalar, its source otherwise. */
function keyText(key: CST.Token | null | undefined): string {
  if (!key) return '';
  return CST.resolveAsScalar(key)?.value ?? ('source' in key ? key.source : '');
}

/**
 * Checks a composed document, walking it without recursion: every alias must name an anchor set before it and outside
 * it (an alias inside its own anchored list or mapping would make the plan infinite), there are at most
 * {@link MAX_PLAN_ALIASES} aliases and as many anchors, and the plan with every alias expanded must stay within
 * {@link MAX_PLAN_DEPTH} and {@link MAX_PLAN_NODES} ("billion laughs"). The depth is checked
 * again here because a pair in a flow list (`[a: [b: 1]]`) is a mapping of its own, with no token in the syntax tree.
 * Call only after {@link checkSyntaxTree} has passed. Problems are placed at the offending alias or node.
 */
export function checkDocument(doc: Document): ShapeProblem | undefined {
  /** Height (levels of lists and mappings, a scalar being 0) and value count of each finished node, aliases expanded. */
  const measured = new Map<YamlNode, { height: number; size: number }>();
  /** The node each anchor name refers to at this point of the walk: the last one set before it, as the yaml library resolves. */
  const anchors = new Map<string, YamlNode>();
  let total = 0;
  let aliases = 0;
  let anchorCount = 0;
  type Frame = { node: YamlNode; depth: number; step: Step | undefined; exit: boolean };
  const root = doc.contents as YamlNode | null;
  const stack: Frame[] = root ? [{ node: root, depth: 0, step: undefined, exit: false }] : [];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    const { node, depth, step } = frame;
    const problem = (message: string): ShapeProblem => ({ offset: node.range?.[0] ?? 0, path: pathOf(step), message });
    if (isAlias(node)) {
      if (++aliases > MAX_PLAN_ALIASES) return problem(`the plan has more than ${MAX_PLAN_ALIASES} aliases; a plan needs a few`);
      const target = anchors.get(node.source);
      if (!target) return problem(`the alias *${node.source} has no anchor &${node.source} before it`);
      const size = measured.get(target);
      if (!size) return problem(`the alias *${node.source} is inside the value anchored as &${node.source}: it would repeat without end`);
      if (depth + size.height > MAX_PLAN_DEPTH) return problem(`with the alias *${node.source} expanded, ${tooDeep()}`);
      total += size.size;
      if (total > MAX_PLAN_NODES) return problem(`with the alias *${node.source} expanded, ${tooMany()}`);
      measured.set(node, size);
      continue;
    }
    const children = childrenOf(node);
    if (!frame.exit) {
      if (!isScalar(node) && depth >= MAX_PLAN_DEPTH) return problem(tooDeep());
      if (node.anchor) {
        anchors.set(node.anchor, node);
        if (++anchorCount > MAX_PLAN_ALIASES) return problem(`the plan has more than ${MAX_PLAN_ALIASES} anchors; a plan needs a few`);
      }
      if (children.length === 0) {
        // A scalar, or an empty list or mapping.
        measured.set(node, { height: isScalar(node) ? 0 : 1, size: 1 });
        total += 1;
        if (total > MAX_PLAN_NODES) return problem(tooMany());
        continue;
      }
      stack.push({ ...frame, exit: true });
      for (let i = children.length - 1; i >= 0; i--) {
        const child = children[i] as { node: YamlNode; key?: string | number };
        stack.push({ node: child.node, depth: depth + 1, step: child.key === undefined ? step : { key: child.key, up: step }, exit: false });
      }
      continue;
    }
    let height = 0;
    let size = 1;
    for (const child of children) {
      const m = measured.get(child.node);
      if (m && m.height > height) height = m.height;
      size += m?.size ?? 0;
    }
    measured.set(node, { height: height + 1, size });
    total += 1;
    if (total > MAX_PLAN_NODES) return problem(tooMany());
  }
  return undefined;
}

/**
 * The keys and values of a mapping, the items of a list; nothing for a scalar. Each with its step in a path: a value
 * under its key's text, an item under its index, a key that is not a scalar (an alias, a list) under none.
 */
function childrenOf(node: YamlNode): Array<{ node: YamlNode; key?: string | number }> {
  if (!isMap(node) && !isSeq(node)) return [];
  const out: Array<{ node: YamlNode; key?: string | number }> = [];
  (node.items as unknown[]).forEach((item, i) => {
    if (isPair(item)) {
      const key = isScalar(item.key) ? String(item.key.value) : undefined;
      if (item.key && typeof item.key === 'object') out.push({ node: item.key as YamlNode, key });
      if (item.value && typeof item.value === 'object') out.push({ node: item.value as YamlNode, key: key ?? '' });
    } else if (item && typeof item === 'object') {
      out.push({ node: item as YamlNode, key: i });
    }
  });
  return out;
}

function tooDeep(): string {
  return `the plan nests lists and mappings more than ${MAX_PLAN_DEPTH} levels deep here; a plan needs about ten`;
}

function tooMany(): string {
  return `the plan has more than ${MAX_PLAN_NODES} values; a plan needs a few thousand`;
}
