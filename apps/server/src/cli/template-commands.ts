import { installTemplate, listTemplates, type TemplateSummary } from 'data-machine';
import { done, optional, text, UsageError, type AdminCommand } from './command';

/** The template a reference names: its id, or `<catalog>/<slug>`, or a slug only one catalog holds. */
function chooseTemplate(templates: readonly TemplateSummary[], reference: string): TemplateSummary {
  const byId = templates.find((template) => template.id === reference);
  if (byId) return byId;
  const [catalog, slug] = reference.includes('/') ? reference.split('/', 2) : [undefined, reference];
  const matches = templates.filter((template) => template.slug === slug && (catalog === undefined || template.catalog === catalog));
  if (matches.length > 1) throw new UsageError(`"${reference}" is in several catalogs (${matches.map((template) => template.catalog).join(', ')}); name it as <catalog>/<slug>`);
  const [match] = matches;
  // Not a usage error: an id the catalog does not hold is refused by the product as agent.not_found.
  return match ?? { id: reference, slug: reference, name: reference, description: '', catalog: '', installedAs: null };
}

/** The template commands: list the catalogs' templates and install one into the tenant by reference. */
export const templateCommands: readonly AdminCommand[] = [
  {
    words: ['templates', 'list'],
    usage: 'templates list [--tenant <slug>] --as <email>',
    options: {},
    positionals: 0,
    async run({ context, scope }) {
      const templates = await listTemplates(context, await scope());
      return { kind: 'rows', columns: ['catalog', 'slug', 'name', 'installed as', 'id'], rows: templates.map((template) => ({ catalog: template.catalog, slug: template.slug, name: template.name, 'installed as': template.installedAs, id: template.id })), value: templates };
    },
  },
  {
    words: ['templates', 'install'],
    usage: 'templates install <template id | catalog/slug | slug> [--slug <slug>] [--name <name>] [--tenant <slug>] --as <email>',
    options: { slug: text, name: text },
    positionals: 1,
    async run({ context, scope, values, positionals }) {
      const target = await scope();
      const template = chooseTemplate(await listTemplates(context, target), positionals[0] ?? '');
      const slug = optional(values, 'slug');
      const name = optional(values, 'name');
      const { agent, created } = await installTemplate(context, target, { templateAgentId: template.id, ...(slug === undefined ? {} : { slug }), ...(name === undefined ? {} : { name }) });
      return done(`${created ? 'installed' : 'already installed'} ${template.catalog === '' ? template.id : `${template.catalog}/${template.slug}`} as agent ${agent.slug} (${agent.id})`, { agent, created });
    },
  },
];
