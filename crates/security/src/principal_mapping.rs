//! Kafka's `ssl.principal.mapping.rules`: how a client certificate's subject
//! DN (RFC 2253, e.g. `CN=alice,OU=eng,O=corp`) becomes a principal name.
//! Rules are tried in order; the first whose pattern matches the whole DN
//! gives the name. `DEFAULT` is the DN itself.
//!
//! Syntax (as Kafka's SslPrincipalMapper): a comma-separated list of
//! `DEFAULT` and `RULE:pattern/replacement/[LU]`, where `\` escapes `/` in
//! the pattern and replacement, `$n` in the replacement is a capture group
//! and the optional `L`/`U` lower/upper-cases the result.

use std::fmt;

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("invalid ssl.principal.mapping.rules: {0}")]
    Invalid(String),
    #[error("no ssl.principal.mapping.rules rule applies to '{0}'")]
    NoMatchingRule(String),
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace { whole: Regex, pattern: Regex, source: String, replacement: String, case: Option<char> },
}

/// Parsed mapping rules; `apply` maps a DN to a principal name.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

impl Default for PrincipalMapper {
    fn default() -> Self {
        PrincipalMapper { rules: vec![Rule::Default] }
    }
}

impl PrincipalMapper {
    /// Parses the property's value (Kafka's default is `DEFAULT`).
    pub fn parse(rules: &str) -> Result<PrincipalMapper, MappingError> {
        let chars: Vec<char> = rules.trim().chars().collect();
        let invalid = |why: String| MappingError::Invalid(why);
        let mut out = Vec::new();
        let mut i = 0;
        let skip_ws = |i: &mut usize| {
            while *i < chars.len() && chars[*i].is_whitespace() {
                *i += 1;
            }
        };
        loop {
            // Empty items (`,,`) are ignored, as Kafka does.
            skip_ws(&mut i);
            while i < chars.len() && chars[i] == ',' {
                i += 1;
                skip_ws(&mut i);
            }
            if i >= chars.len() {
                break;
            }
            let rest: String = chars[i..].iter().collect();
            if rest.starts_with("DEFAULT") {
                out.push(Rule::Default);
                i += "DEFAULT".len();
            } else if rest.starts_with("RULE:") {
                i += "RULE:".len();
                let pattern = take_until_slash(&chars, &mut i)
                    .ok_or_else(|| invalid(format!("'{rest}': a RULE needs pattern/replacement/")))?;
                let replacement = take_until_slash(&chars, &mut i)
                    .ok_or_else(|| invalid(format!("'{rest}': a RULE needs pattern/replacement/")))?;
                let case = match chars.get(i) {
                    Some(c @ ('L' | 'U')) => {
                        i += 1;
                        Some(*c)
                    }
                    _ => None,
                };
                let bad_regex = |e: regex::Error| invalid(format!("'{pattern}' is not a regular expression: {e}"));
                out.push(Rule::Replace {
                    whole: Regex::new(&format!("^(?:{pattern})$")).map_err(bad_regex)?,
                    pattern: Regex::new(&pattern).map_err(bad_regex)?,
                    source: pattern,
                    replacement,
                    case,
                });
            } else {
                return Err(invalid(format!("'{rest}' is neither DEFAULT nor RULE:pattern/replacement/[LU]")));
            }
            skip_ws(&mut i);
            if i < chars.len() && chars[i] != ',' {
                let rest: String = chars[i..].iter().collect();
                return Err(invalid(format!("unexpected '{rest}' after a rule")));
            }
        }
        Ok(PrincipalMapper { rules: out })
    }

    /// The principal name for a subject DN.
    pub fn apply(&self, dn: &str) -> Result<String, MappingError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace { whole, pattern, replacement, case, .. } => {
                    if !whole.is_match(dn) {
                        continue;
                    }
                    let mut name = String::new();
                    let mut last = 0;
                    for caps in pattern.captures_iter(dn) {
                        let m = caps.get(0).unwrap();
                        name.push_str(&dn[last..m.start()]);
                        name.push_str(&expand(replacement, &caps));
                        last = m.end();
                    }
                    name.push_str(&dn[last..]);
                    return Ok(match case {
                        Some('L') => name.to_lowercase(),
                        Some('U') => name.to_uppercase(),
                        _ => name,
                    });
                }
            }
        }
        Err(MappingError::NoMatchingRule(dn.to_string()))
    }
}

impl fmt::Display for PrincipalMapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|r| match r {
                Rule::Default => "DEFAULT".to_string(),
                Rule::Replace { source, replacement, case, .. } => {
                    format!("RULE:{source}/{replacement}{}", case.map(|c| format!("/{c}")).unwrap_or_default())
                }
            })
            .collect();
        write!(f, "[{}]", rules.join(", "))
    }
}

/// Reads up to the next unescaped `/` (consumed); the text keeps its escapes
/// (they mean the same to the regex). `None` without a closing `/`.
fn take_until_slash(chars: &[char], i: &mut usize) -> Option<String> {
    let mut out = String::new();
    while *i < chars.len() {
        match chars[*i] {
            '\\' if *i + 1 < chars.len() => {
                // `\/` is a slash in the text; other escapes are the regex's.
                if chars[*i + 1] == '/' {
                    out.push('/');
                } else {
                    out.push('\\');
                    out.push(chars[*i + 1]);
                }
                *i += 2;
            }
            '/' => {
                *i += 1;
                return Some(out);
            }
            c => {
                out.push(c);
                *i += 1;
            }
        }
    }
    None
}

/// Java's replacement syntax: `$n` is group n (digits taken while they name
/// an existing group; a first digit beyond the groups is literal, as Kafka
/// escapes it), `\x` is a literal x.
fn expand(replacement: &str, caps: &regex::Captures<'_>) -> String {
    let groups = caps.len() - 1;
    let chars: Vec<char> = replacement.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            '$' if i + 1 < chars.len() && chars[i + 1].is_ascii_digit() => {
                let first = chars[i + 1].to_digit(10).unwrap() as usize;
                if first > groups {
                    out.push('$');
                    i += 1;
                    continue;
                }
                let mut n = first;
                i += 2;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    let next = n * 10 + chars[i].to_digit(10).unwrap() as usize;
                    if next > groups {
                        break;
                    }
                    n = next;
                    i += 1;
                }
                out.push_str(caps.get(n).map_or("", |m| m.as_str()));
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafkas_documented_examples() {
        let mapper = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, \
             RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, \
             RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, \
             RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, \
             DEFAULT",
        )
        .unwrap();
        assert_eq!(mapper.apply("CN=Duke,OU=ServiceUsers,O=Org,C=US").unwrap(), "duke");
        assert_eq!(mapper.apply("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US").unwrap(), "duke@sme");
        assert_eq!(mapper.apply("cn=duke,ou=sme,dc=mycp,dc=com").unwrap(), "DUKE@SME");
        assert_eq!(mapper.apply("cN=duke,OU=JavaSoft,O=Sun Microsystems").unwrap(), "DUKE");
        assert_eq!(mapper.apply("OU=JavaSoft,O=Sun Microsystems,C=US").unwrap(), "OU=JavaSoft,O=Sun Microsystems,C=US");
    }

    #[test]
    fn default_is_the_dn_and_no_rule_is_an_error() {
        assert_eq!(PrincipalMapper::default().apply("CN=alice,OU=x").unwrap(), "CN=alice,OU=x");
        let only = PrincipalMapper::parse("RULE:^CN=([a-z]+)$/$1/").unwrap();
        assert_eq!(only.apply("CN=bob").unwrap(), "bob");
        assert!(matches!(only.apply("CN=Bob,O=x"), Err(MappingError::NoMatchingRule(_))));
        assert!(PrincipalMapper::parse("").unwrap().apply("CN=x").is_err());
    }

    #[test]
    fn kafkas_valid_and_invalid_rules() {
        for ok in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ] {
            PrincipalMapper::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn splitting_like_kafka() {
        let shown = |rules: &str| PrincipalMapper::parse(rules).unwrap().to_string();
        assert_eq!(shown(""), "[]");
        assert_eq!(shown("  RULE:// ,  DEFAULT  "), "[RULE:/, DEFAULT]");
        assert_eq!(shown(",,RULE://,,,DEFAULT,,"), "[RULE:/, DEFAULT]");
        assert_eq!(
            shown("  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  "),
            "[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]"
        );
    }

    #[test]
    fn escaped_commas_in_names() {
        let mapper = PrincipalMapper::parse(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT").unwrap();
        assert_eq!(mapper.apply(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz").unwrap(), r"Tkac\, Adam");
    }

    #[test]
    fn back_references_beyond_the_groups_are_literal() {
        let mapper = PrincipalMapper::parse("RULE:^CN=(.*)$/$1@$4/").unwrap();
        assert_eq!(mapper.apply("CN=a").unwrap(), "a@$4");
    }
}
