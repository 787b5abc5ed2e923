/**
 * Feed documents shaped like real ones (a WordPress RSS 2.0 export, a
 * GitHub-style Atom feed, a Slashdot-style RSS 1.0/RDF feed), with the
 * quirks parsers meet in the wild: namespaces, CDATA, HTML entities, an item
 * without a guid, one without guid or link, a date that does not parse.
 * Serve them from `startHttpFixture`.
 */
export const feedFixtures = {
  /** RSS 2.0 with content:encoded, dc:creator, atom:link. Items: guid, link only, bad date, neither. */
  rss2: `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:wfw="http://wellformedweb.org/CommentAPI/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:atom="http://www.w3.org/2005/Atom"
  xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel>
  <title>Field Notes &amp; Errata</title>
  <atom:link href="https://blog.example/feed/" rel="self" type="application/rss+xml" />
  <link>https://blog.example</link>
  <description>Notes from the field</description>
  <lastBuildDate>Mon, 30 Nov 2026 09:15:00 +0000</lastBuildDate>
  <language>en-US</language>
  <sy:updatePeriod>hourly</sy:updatePeriod>
  <generator>https://wordpress.org/?v=6.7</generator>
  <item>
    <title>Rock &#8216;n&#8217; roll &amp; the &lt;script&gt; tag</title>
    <link>https://blog.example/2026/11/rock-n-roll/</link>
    <dc:creator><![CDATA[Ada Writer]]></dc:creator>
    <pubDate>Mon, 30 Nov 2026 09:00:00 +0000</pubDate>
    <category><![CDATA[Music]]></category>
    <category><![CDATA[Essays]]></category>
    <guid isPermaLink="false">https://blog.example/?p=101</guid>
    <description><![CDATA[A short <em>teaser</em> &hellip;]]></description>
    <content:encoded><![CDATA[<p>The full <strong>story</strong> of café &amp; culture.</p>]]></content:encoded>
  </item>
  <item>
    <title>No guid here</title>
    <link>https://blog.example/2026/11/no-guid/</link>
    <pubDate>Sun, 29 Nov 2026 18:30:00 +0000</pubDate>
    <description>Plain text &amp; entities</description>
  </item>
  <item>
    <title>A date that is not a date</title>
    <link>https://blog.example/2026/11/bad-date/</link>
    <guid>https://blog.example/2026/11/bad-date/</guid>
    <pubDate>Someday, maybe</pubDate>
    <description>Undated</description>
  </item>
  <item>
    <title>Neither guid nor link</title>
    <pubDate>Sat, 28 Nov 2026 08:00:00 +0000</pubDate>
    <description>Orphan</description>
  </item>
  <item>
    <title>Older post</title>
    <link>https://blog.example/2026/10/older/</link>
    <guid isPermaLink="false">https://blog.example/?p=90</guid>
    <pubDate>Thu, 01 Oct 2026 12:00:00 GMT</pubDate>
    <description>From October</description>
  </item>
</channel>
</rss>
`,
  /** Atom 1.0: ids, alternate links, escaped HTML content, an xhtml summary, published and updated dates. */
  atom: `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-US" xmlns:media="http://search.yahoo.com/mrss/">
  <id>tag:releases.example,2008:https://releases.example/project/releases</id>
  <link type="text/html" rel="alternate" href="https://releases.example/project/releases"/>
  <link type="application/atom+xml" rel="self" href="https://releases.example/project/releases.atom"/>
  <title>Release notes from project</title>
  <updated>2026-11-30T10:00:00+01:00</updated>
  <entry>
    <id>tag:releases.example,2008:Repository/1/v2.1.0</id>
    <updated>2026-11-30T10:00:00+01:00</updated>
    <published>2026-11-30T09:45:00+01:00</published>
    <link rel="alternate" type="text/html" href="https://releases.example/project/releases/tag/v2.1.0"/>
    <title>v2.1.0 &#8211; faster &amp; smaller</title>
    <content type="html">&lt;h2&gt;What&amp;#39;s new&lt;/h2&gt;&lt;p&gt;Everything.&lt;/p&gt;</content>
    <author><name>octo</name></author>
    <media:thumbnail height="30" width="30" url="https://avatars.releases.example/u/1?s=60&amp;v=4"/>
  </entry>
  <entry>
    <id>tag:releases.example,2008:Repository/1/v2.0.0</id>
    <updated>2026-11-01T08:00:00Z</updated>
    <link rel="alternate" type="text/html" href="https://releases.example/project/releases/tag/v2.0.0"/>
    <title type="text">v2.0.0</title>
    <summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Major <b>release</b></p></div></summary>
    <author><name>octo</name><email>octo@releases.example</email></author>
  </entry>
</feed>
`,
  /** RSS 1.0 (RDF): rdf:about as identity, dc:date, dc:subject. */
  rdf: `<?xml version="1.0" encoding="ISO-8859-1"?>
<rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"
 xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
<channel rdf:about="https://news.example/">
  <title>News for Nerds</title>
  <link>https://news.example/</link>
  <description>Stuff that matters</description>
  <items>
    <rdf:Seq>
      <rdf:li rdf:resource="https://news.example/story/26/11/30/1"/>
      <rdf:li rdf:resource="https://news.example/story/26/11/29/2"/>
    </rdf:Seq>
  </items>
</channel>
<item rdf:about="https://news.example/story/26/11/30/1">
  <title>Compilers &amp; coffee</title>
  <link>https://news.example/story/26/11/30/1</link>
  <description>An editor writes: &lt;i&gt;fast&lt;/i&gt; builds.</description>
  <dc:creator>msmash</dc:creator>
  <dc:date>2026-11-30T07:00:00+00:00</dc:date>
  <dc:subject>programming</dc:subject>
  <slash:comments>42</slash:comments>
</item>
<item rdf:about="https://news.example/story/26/11/29/2">
  <title>Second story</title>
  <link>https://news.example/story/26/11/29/2</link>
  <description>More.</description>
  <dc:date>2026-11-29T07:00:00+00:00</dc:date>
</item>
</rdf:RDF>
`,
  /** Cut off mid-item: not well-formed XML. */
  truncated: `<?xml version="1.0"?><rss version="2.0"><channel><title>Cut</title><item><title>Half</ti`,
  /** An HTML page where a feed was expected. */
  html: `<!DOCTYPE html><html><head><title>Moved</title></head><body><p>Our feed moved.</p></body></html>`,
} as const;

/** The name of a fixture in {@link feedFixtures}. */
export type FeedFixtureName = keyof typeof feedFixtures;
