//! Evaluation of an addressbook-query filter (RFC 6352 §10.5) against one card.
//!
//! RFC 6352 leaves open how text-matches and param-filters spread over several instances of a
//! property (three EMAILs, two TELs). Madang does what sabre/dav does, since that is what
//! Apple's and Nextcloud's users have been getting for a decade:
//!
//! * a text-match holds when *some* instance of the property matches, and `negate-condition`
//!   inverts that: "not contains x" means *no* EMAIL contains x;
//! * text-matches and param-filters of one prop-filter are each tested over all instances and
//!   combined with the prop-filter's `test` (§10.5.1), not required to hold on one instance;
//! * a param-filter is defined when some instance carries the parameter; its text-match holds
//!   when some value of it matches (`TYPE=work,voice` has the values "work" and "voice").
//!
//! Names are case-insensitive and vCard groups are ignored (`item1.EMAIL` is an EMAIL,
//! RFC 6350 §3.3); a filter name with a group (`item1.EMAIL`) matches only that group.
//! Structured values (N, ADR, ORG) are matched as written, components joined with ';' — sabre
//! matches `getValue()`, which is the same string — so `contains` works as users expect and
//! `equals` needs the whole value. vCard 2.1 bare parameters (`TEL;WORK`) count as TYPE values.

use calcard::vcard::{VCardEntry, VCardParameter, VCardParameterValue};

use crate::CardObject;
use crate::filter::{AddressFilter, CardPropFilter, FilterTest, ParamFilter, ParamTest};
use crate::text::text_hit;
use crate::vcard::entry_value_text;

impl CardObject {
    /// Does the card satisfy the addressbook-query `filter` (RFC 6352 §10.5)? A filter without
    /// prop-filters matches every card.
    pub fn matches(&self, filter: &AddressFilter) -> bool {
        if filter.props.is_empty() {
            return true;
        }
        let mut results = filter.props.iter().map(|p| self.prop_matches(p));
        match filter.test {
            FilterTest::AnyOf => results.any(|r| r),
            FilterTest::AllOf => results.all(|r| r),
        }
    }

    /// `CARDDAV:prop-filter` (RFC 6352 §10.5.1).
    fn prop_matches(&self, filter: &CardPropFilter) -> bool {
        let instances: Vec<&VCardEntry> = self.card.entries.iter().filter(|e| name_matches(e, &filter.name)).collect();
        if filter.is_not_defined {
            return instances.is_empty();
        }
        if instances.is_empty() {
            return false;
        }
        if filter.text_matches.is_empty() && filter.params.is_empty() {
            return true;
        }
        let values: Vec<String> = if filter.text_matches.is_empty() {
            Vec::new()
        } else {
            instances.iter().map(|e| entry_value_text(e)).collect()
        };
        let text_results = filter.text_matches.iter().map(|tm| values.iter().any(|v| text_hit(tm, v)) != tm.negate);
        let param_results = filter.params.iter().map(|p| param_matches(&instances, p));
        let mut results = text_results.chain(param_results);
        match filter.test {
            FilterTest::AnyOf => results.any(|r| r),
            FilterTest::AllOf => results.all(|r| r),
        }
    }
}

fn name_matches(entry: &VCardEntry, name: &str) -> bool {
    match name.split_once('.') {
        Some((group, name)) => {
            entry.group.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(group))
                && entry.name.as_str().eq_ignore_ascii_case(name)
        }
        None => entry.name.as_str().eq_ignore_ascii_case(name),
    }
}

/// The values of parameter `name` on one property; 2.1's bare `WORK` is a TYPE value.
fn param_values<'a>(entry: &'a VCardEntry, name: &'a str) -> impl Iterator<Item = String> + 'a {
    entry.params.iter().filter_map(move |p: &VCardParameter| {
        if matches!(p.value, VCardParameterValue::Null) {
            return name.eq_ignore_ascii_case("TYPE").then(|| p.name.as_str().to_string());
        }
        p.name.as_str().eq_ignore_ascii_case(name).then(|| p.value.clone().into_text().into_owned())
    })
}

/// `CARDDAV:param-filter` (RFC 6352 §10.5.2), over every instance of the property.
fn param_matches(instances: &[&VCardEntry], filter: &ParamFilter) -> bool {
    let mut values = instances.iter().flat_map(|e| param_values(e, &filter.name)).peekable();
    match &filter.test {
        ParamTest::IsNotDefined => values.peek().is_none(),
        ParamTest::Defined { text_match: None } => values.peek().is_some(),
        ParamTest::Defined { text_match: Some(tm) } => {
            // Undefined fails even when negated, as for properties (§10.5.2 tests the value only if present).
            if values.peek().is_none() {
                return false;
            }
            values.any(|v| text_hit(tm, &v)) != tm.negate
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::filter::*;
    use crate::parse_card;

    fn card(body: &str) -> crate::CardObject {
        let text = format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u\r\n{}END:VCARD\r\n", body.replace('\n', "\r\n"));
        parse_card(&text).unwrap()
    }

    fn tm(value: &str, match_type: MatchType) -> TextMatch {
        TextMatch { value: value.into(), collation: Collation::UnicodeCasemap, match_type, negate: false }
    }

    fn prop(name: &str, tms: Vec<TextMatch>) -> CardPropFilter {
        CardPropFilter {
            name: name.into(),
            test: FilterTest::AnyOf,
            is_not_defined: false,
            text_matches: tms,
            params: vec![],
        }
    }

    fn filter(test: FilterTest, props: Vec<CardPropFilter>) -> AddressFilter {
        AddressFilter { test, props }
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert!(card("FN:x\n").matches(&AddressFilter::default()));
    }

    #[test]
    fn groups_are_ignored_and_names_case_insensitive() {
        let c = card("FN:Jane\nitem1.EMAIL;type=INTERNET:Jane@Example.com\nitem1.X-ABLabel:_$!<Other>!$_\n");
        assert!(c.matches(&filter(FilterTest::AnyOf, vec![prop("email", vec![tm("jane@", MatchType::StartsWith)])])));
        assert!(c.matches(&filter(FilterTest::AnyOf, vec![prop("ITEM1.EMAIL", vec![])])));
        assert!(!c.matches(&filter(FilterTest::AnyOf, vec![prop("item2.EMAIL", vec![])])));
        assert!(c.matches(&filter(FilterTest::AnyOf, vec![prop("X-ABLABEL", vec![tm("other", MatchType::Contains)])])));
    }

    #[test]
    fn anyof_allof_and_is_not_defined() {
        let c = card("FN:Jane Doe\nEMAIL:jane@example.com\n");
        let fn_jane = prop("FN", vec![tm("jane", MatchType::Contains)]);
        let tel = prop("TEL", vec![]);
        let mut no_tel = prop("TEL", vec![]);
        no_tel.is_not_defined = true;
        assert!(c.matches(&filter(FilterTest::AnyOf, vec![fn_jane.clone(), tel.clone()])));
        assert!(!c.matches(&filter(FilterTest::AllOf, vec![fn_jane.clone(), tel])));
        assert!(c.matches(&filter(FilterTest::AllOf, vec![fn_jane, no_tel])));
    }

    #[test]
    fn match_types_collations_and_negation() {
        let c = card("FN:Jürgen Straße\nEMAIL:a@x.org\nEMAIL:b@y.org\n");
        let m = |t: TextMatch| c.matches(&filter(FilterTest::AnyOf, vec![prop("FN", vec![t])]));
        assert!(m(tm("JÜRGEN STRASSE", MatchType::Equals)));
        assert!(m(tm("strasse", MatchType::EndsWith)));
        assert!(!m(TextMatch { collation: Collation::AsciiCasemap, ..tm("JÜRGEN", MatchType::StartsWith) }));
        assert!(!m(TextMatch { collation: Collation::Octet, ..tm("jürgen", MatchType::StartsWith) }));
        assert!(m(TextMatch { collation: Collation::Octet, ..tm("Jürgen", MatchType::StartsWith) }));
        // Negation is over all instances: no EMAIL contains "z.org", but one contains "y.org".
        let email = |t: TextMatch| c.matches(&filter(FilterTest::AnyOf, vec![prop("EMAIL", vec![t])]));
        assert!(email(TextMatch { negate: true, ..tm("z.org", MatchType::Contains) }));
        assert!(!email(TextMatch { negate: true, ..tm("y.org", MatchType::Contains) }));
    }

    #[test]
    fn structured_values_match_as_written() {
        let c = card("FN:x\nN:Doe;Jane;;Dr.;\nADR;TYPE=home:;;1 Main St;Springfield;;12345;US\n");
        let m = |name: &str, t: TextMatch| c.matches(&filter(FilterTest::AnyOf, vec![prop(name, vec![t])]));
        assert!(m("N", tm("doe", MatchType::Contains)));
        assert!(m("N", tm("Doe;Jane;;Dr.;", MatchType::Equals)));
        assert!(!m("N", tm("Doe", MatchType::Equals)));
        assert!(m("ADR", tm("springfield", MatchType::Contains)));
    }

    #[test]
    fn param_filters() {
        let c = card("FN:x\nTEL;TYPE=WORK,VOICE:1\nTEL;TYPE=CELL:2\n");
        let pf = |name: &str, test: ParamTest| {
            let mut p = prop("TEL", vec![]);
            p.params = vec![ParamFilter { name: name.into(), test }];
            c.matches(&filter(FilterTest::AnyOf, vec![p]))
        };
        let is = |v: &str| ParamTest::Defined { text_match: Some(tm(v, MatchType::Equals)) };
        assert!(pf("type", is("voice")));
        assert!(pf("TYPE", is("cell")));
        assert!(!pf("TYPE", is("fax")));
        assert!(pf("TYPE", ParamTest::Defined { text_match: None }));
        assert!(pf("PREF", ParamTest::IsNotDefined));
        // vCard 2.1 bare parameters are TYPE values.
        let old =
            parse_card("BEGIN:VCARD\r\nVERSION:2.1\r\nUID:u\r\nEMAIL;INTERNET;PREF:a@b\r\nEND:VCARD\r\n").unwrap();
        let mut p = prop("EMAIL", vec![]);
        p.params = vec![ParamFilter { name: "TYPE".into(), test: is("internet") }];
        assert!(old.matches(&filter(FilterTest::AnyOf, vec![p])));
    }
}
