// Translations for the web client: `t(key, vars)` over flat JSON catalogues
// (`i18n/<lang>.json`, and any `i18n/<part>.<lang>.json` a view adds). The language is the
// page's `<html lang>`, which the server chose (the user's setting, then Accept-Language).

/** @type {Record<string, string>} */
let messages = {};
/** @type {Record<string, string>} */
let fallback = {};
let language = 'en';

/** The hashed URLs of the catalogues of `lang`, from the page's import map. */
function catalogueUrls(lang) {
  const map = document.querySelector('script[type="importmap"]');
  /** @type {Record<string, string>} */
  let imports = {};
  try {
    imports = JSON.parse(map?.textContent || '{}').imports || {};
  } catch {
    imports = {};
  }
  const own = `/assets/i18n/${lang}.json`;
  const parts = new RegExp(`^/assets/i18n/[a-z0-9_-]+\\.${lang}\\.json$`);
  return Object.keys(imports)
    .filter((k) => k === own || parts.test(k))
    .sort((a, b) => (a === own ? -1 : b === own ? 1 : a.localeCompare(b)))
    .map((k) => imports[k]);
}

async function load(lang) {
  /** @type {Record<string, string>} */
  const out = {};
  const lists = await Promise.all(catalogueUrls(lang).map(async (url) => {
    const r = await fetch(url, { credentials: 'same-origin' });
    return r.ok ? r.json() : {};
  }));
  for (const list of lists) Object.assign(out, list);
  return out;
}

/** Loads the catalogues of the page's language (and English, for missing keys). */
export async function loadCatalogues() {
  language = (document.documentElement.lang || 'en').toLowerCase().split('-')[0];
  const [own, en] = await Promise.all([load(language), language === 'en' ? null : load('en')]);
  messages = own;
  fallback = en || own;
}

/** The page's language code (`en`, `ko`). */
export function lang() {
  return language;
}

/**
 * The text of `key`, with `{name}` replaced by `vars.name`; English when the key is missing
 * in the page's language, the key itself when missing everywhere.
 *
 * @param {string} key
 * @param {Record<string, string|number>} [vars]
 */
export function t(key, vars) {
  const text = messages[key] ?? fallback[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{([a-z0-9_]+)\}/gi, (whole, name) => (name in vars ? String(vars[name]) : whole));
}
