//! Safe markup for the report's tables: [`Html`] is text already escaped
//! or markup written here, never a report string as it came, and
//! [`Table`] writes a table from columns and [`Html`] cells. Every string
//! from the report is user input (scenario, region and key names, item
//! images), so a table cell can only be made by escaping it.

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A piece of markup: escaped text, or the page's own tags around it.
pub(super) struct Html(String);

impl Html {
    /// Text, escaped.
    pub(super) fn text(s: &str) -> Html {
        Html(esc(s))
    }

    /// `inner` in a `<span>` of the page's class `class`.
    pub(super) fn span(class: &str, inner: Html) -> Html {
        Html(format!("<span class=\"{}\">{}</span>", esc(class), inner.0))
    }

    /// Text as code, escaped.
    pub(super) fn code(s: &str) -> Html {
        Html(format!("<code>{}</code>", esc(s)))
    }

    /// `inner` marked as bad (red).
    pub(super) fn bad(inner: Html) -> Html {
        Html::span("bad", inner)
    }

    /// `parts` one per line.
    pub(super) fn lines(parts: impl IntoIterator<Item = Html>) -> Html {
        Html(
            parts
                .into_iter()
                .map(|p| p.0)
                .collect::<Vec<_>>()
                .join("<br>"),
        )
    }

    /// A count marked bad, then `lines` under it: how a list of
    /// differences reads.
    pub(super) fn bad_count_then(count: usize, lines: impl IntoIterator<Item = Html>) -> Html {
        Html::lines([Html::bad(count.into()), Html::lines(lines)])
    }
}

impl From<&str> for Html {
    fn from(s: &str) -> Html {
        Html::text(s)
    }
}

impl From<String> for Html {
    fn from(s: String) -> Html {
        Html::text(&s)
    }
}

impl From<&String> for Html {
    fn from(s: &String) -> Html {
        Html::text(s)
    }
}

macro_rules! html_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Html {
            fn from(n: $t) -> Html {
                Html(n.to_string())
            }
        }
    )*};
}
html_from_number!(u64, usize);

/// One column: its heading, and whether its heading and its cells are
/// numbers (right-aligned, class `n`).
#[derive(Clone, Copy)]
pub(super) struct Column {
    title: &'static str,
    numeric_title: bool,
    numeric_cells: bool,
}

/// A column of text.
pub(super) const fn text(title: &'static str) -> Column {
    Column {
        title,
        numeric_title: false,
        numeric_cells: false,
    }
}

/// A column of numbers.
pub(super) const fn number(title: &'static str) -> Column {
    Column {
        title,
        numeric_title: true,
        numeric_cells: true,
    }
}

/// A column of numbers under a heading aligned as text (times, mostly).
pub(super) const fn number_cells(title: &'static str) -> Column {
    Column {
        title,
        numeric_title: false,
        numeric_cells: true,
    }
}

/// A table being written: its head at once, then a row at a time.
pub(super) struct Table<'a> {
    out: &'a mut String,
    columns: &'a [Column],
}

impl<'a> Table<'a> {
    pub(super) fn new(out: &'a mut String, columns: &'a [Column]) -> Self {
        out.push_str("<table>\n<thead><tr>");
        for c in columns {
            let class = if c.numeric_title { " class=\"n\"" } else { "" };
            out.push_str(&format!("<th{class}>{}</th>", esc(c.title)));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        Table { out, columns }
    }

    /// One row, a cell per column.
    pub(super) fn row<const N: usize>(&mut self, cells: [Html; N]) {
        debug_assert_eq!(N, self.columns.len(), "a cell per column");
        self.out.push_str("<tr>");
        for (c, cell) in self.columns.iter().zip(cells) {
            let class = if c.numeric_cells { " class=\"n\"" } else { "" };
            self.out.push_str(&format!("<td{class}>{}</td>", cell.0));
        }
        self.out.push_str("</tr>\n");
    }

    /// One row of a single cell across every column, muted: what an empty
    /// table says instead.
    pub(super) fn muted_row(&mut self, text: &str) {
        self.out.push_str(&format!(
            "<tr><td colspan=\"{}\" class=\"muted\">{}</td></tr>\n",
            self.columns.len(),
            esc(text)
        ));
    }

    /// Closes the body, and the table.
    pub(super) fn finish(self) {
        self.out.push_str("</tbody>\n</table>\n");
    }

    /// Two runs of a comparison, a column each: one row per figure, its
    /// label and the two runs' cells (a missing cell shows as `–`).
    pub(super) fn side_by_side(
        out: &mut String,
        runs: [&'static str; 2],
        rows: Vec<(String, Vec<Html>)>,
    ) {
        let columns = [text(""), text(runs[0]), text(runs[1])];
        let mut t = Table::new(out, &columns);
        for (label, mut cells) in rows {
            let second = cells.pop().unwrap_or_else(|| "–".into());
            let first = cells.pop().unwrap_or_else(|| "–".into());
            t.row([label.into(), first, second]);
        }
        t.finish();
    }

    /// Closes the body, writes a footer row whose first cell spans
    /// `label_span` columns, and closes the table.
    pub(super) fn finish_with_total(self, label: &str, label_span: usize, totals: &[Html]) {
        self.out.push_str(&format!(
            "</tbody>\n<tfoot><tr><td colspan=\"{label_span}\">{}</td>",
            esc(label)
        ));
        for t in totals {
            self.out.push_str(&format!("<td class=\"n\">{}</td>", t.0));
        }
        self.out.push_str("</tr></tfoot>\n</table>\n");
    }
}
