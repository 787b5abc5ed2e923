// @ts-check
/**
 * ESLint rule `data-machine/package-boundary`: keeps the dependency direction
 * server -> data-machine -> agents-api true at the import level.
 *
 * A file belongs to the workspace package of its nearest package.json. For
 * every package named in the options it reports:
 * - a bare import of a package that this package must not depend on;
 * - a relative (or absolute) import that resolves outside the package's own
 *   folder: another package is reached by its name, never by path;
 * - a test-only package (the testkit) imported from shipped source.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** @typedef {{ forbid?: string[] }} PackageRule */
/** @typedef {{ packages: Record<string, PackageRule>, testOnly?: string[] }} BoundaryOptions */

/** @type {Map<string, { name: string, root: string } | null>} */
const ownerCache = new Map();

/**
 * The nearest package.json above `directory`, as name and folder.
 * @param {string} directory
 * @returns {{ name: string, root: string } | null}
 */
function findOwner(directory) {
  const cached = ownerCache.get(directory);
  if (cached !== undefined) return cached;
  const manifest = path.join(directory, 'package.json');
  /** @type {{ name: string, root: string } | null} */
  let owner = null;
  if (existsSync(manifest)) {
    const parsed = JSON.parse(readFileSync(manifest, 'utf8'));
    owner = { name: String(parsed.name ?? ''), root: directory };
  } else {
    const parent = path.dirname(directory);
    owner = parent === directory ? null : findOwner(parent);
  }
  ownerCache.set(directory, owner);
  return owner;
}

/**
 * `@scope/name/sub` -> `@scope/name`; `name/sub` -> `name`.
 * @param {string} specifier
 */
function packageNameOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** @param {string} filename */
function isTestFile(filename) {
  return /\.(test|spec)\.[cm]?[jt]sx?$/.test(filename) || /[\\/](test|bench)[\\/]/.test(filename);
}

/** @type {import('eslint').Rule.RuleModule} */
export const packageBoundaryRule = {
  meta: {
    type: 'problem',
    docs: { description: 'Keep imports inside the dependency direction server -> data-machine -> agents-api.' },
    schema: [
      {
        type: 'object',
        properties: {
          packages: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              properties: { forbid: { type: 'array', items: { type: 'string' } } },
              additionalProperties: false,
            },
          },
          testOnly: { type: 'array', items: { type: 'string' } },
        },
        required: ['packages'],
        additionalProperties: false,
      },
    ],
    messages: {
      forbiddenPackage:
        "Package boundary: '{{owner}}' must not import '{{target}}' (dependencies point server -> data-machine -> agents-api).",
      escapesPackage:
        "Package boundary: '{{specifier}}' resolves outside '{{owner}}'; import another package by its name, never by path.",
      testOnlyPackage: "Package boundary: '{{target}}' is for tests only and must not be imported from '{{owner}}' source.",
    },
  },
  create(context) {
    const options = /** @type {BoundaryOptions} */ (context.options[0]);
    const filename = context.filename;
    const owner = findOwner(path.dirname(filename));
    const rule = owner ? options.packages[owner.name] : undefined;
    if (!owner || !rule) return {};
    const forbidden = new Set(rule.forbid ?? []);
    const testOnly = new Set(options.testOnly ?? []);
    const testFile = isTestFile(filename);

    /** @param {{ type: string, value?: unknown } | null | undefined} source */
    function check(source) {
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string' || !owner) return;
      const specifier = source.value;
      if (specifier.startsWith('.') || path.isAbsolute(specifier)) {
        const resolved = path.resolve(path.dirname(filename), specifier);
        const relative = path.relative(owner.root, resolved);
        if (relative.startsWith('..') || path.isAbsolute(relative)) {
          context.report({ node: source, messageId: 'escapesPackage', data: { specifier, owner: owner.name } });
        }
        return;
      }
      const target = packageNameOf(specifier);
      if (forbidden.has(target)) {
        context.report({ node: source, messageId: 'forbiddenPackage', data: { owner: owner.name, target } });
      } else if (testOnly.has(target) && !testFile) {
        context.report({ node: source, messageId: 'testOnlyPackage', data: { owner: owner.name, target } });
      }
    }

    return {
      ImportDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};

/** The local plugin that carries the rule. */
export const dataMachinePlugin = {
  meta: { name: 'eslint-plugin-data-machine' },
  rules: { 'package-boundary': packageBoundaryRule },
};
