//! Property tests: the input parsers never panic and accept exactly what their
//! documentation promises, and `PermissionSet` answers like a `HashSet<u32>`.
use std::collections::HashSet;

use fastvue_core::domain::{Codename, CompanyCode, Email, Name, Slug, Username};
use fastvue_core::permission::PermissionSet;
use proptest::prelude::*;

/// Arbitrary text, biased towards the characters the parsers care about: separators,
/// case, whitespace, quotes and SQL metacharacters, and non-ASCII letters whose
/// lower-case form is ASCII (U+212A KELVIN SIGN) or longer (U+0130).
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-zA-Z0-9@._+'\"%;=\\\\\u{212A}\u{0130}\u{00e9}\t\n-]{0,80}",
        // Long inputs around the length limits.
        "[a-z0-9.@-]{60,300}",
    ]
}

/// One DNS label as the email rules accept it.
fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?"
}

/// Addresses that follow every documented rule (mixed case, padded with spaces).
fn valid_email() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-zA-Z0-9_+-]{1,10}){0,2}",
        prop::collection::vec(label(), 2..4),
        " {0,2}",
    )
        .prop_map(|(local, labels, pad)| format!("{pad}{local}@{}{pad}", labels.join(".")))
}

fn assert_email_rules(value: &str) {
    assert!(value.len() <= 254, "{value:?} too long");
    assert_eq!(value, value.trim(), "{value:?} not trimmed");
    assert_eq!(value, value.to_lowercase(), "{value:?} not lower-case");
    let (local, domain) = value.split_once('@').expect("one @");
    assert!(!domain.contains('@'), "{value:?} has two @");
    assert!(
        (1..=64).contains(&local.len()),
        "{value:?} local part length"
    );
    assert!(
        !local.starts_with('.') && !local.ends_with('.') && !local.contains(".."),
        "{value:?} local part dots"
    );
    assert!(
        local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c)),
        "{value:?} local part characters"
    );
    let labels: Vec<&str> = domain.split('.').collect();
    assert!(labels.len() >= 2, "{value:?} needs a dot in the domain");
    for l in labels {
        assert!((1..=63).contains(&l.len()), "{value:?} label length");
        assert!(
            !l.starts_with('-') && !l.ends_with('-'),
            "{value:?} label hyphen"
        );
        assert!(
            l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{value:?} label characters"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn email_parse_never_panics_and_accepts_only_documented_addresses(raw in hostile_text()) {
        if let Ok(email) = Email::parse(&raw) {
            assert_email_rules(email.as_str());
            prop_assert_eq!(Email::parse(email.as_str()).ok(), Some(email));
        }
    }

    #[test]
    fn email_accepts_every_well_formed_address_trimmed_and_lowercased(raw in valid_email()) {
        let email = Email::parse(&raw).map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
        prop_assert_eq!(email.as_str(), raw.trim().to_lowercase());
        prop_assert_eq!(Email::parse(email.as_str()).ok(), Some(email));
    }

    #[test]
    fn username_parse_never_panics_and_accepts_only_documented_names(raw in hostile_text()) {
        if let Ok(name) = Username::parse(&raw) {
            let v = name.as_str();
            prop_assert_eq!(v, raw.trim());
            prop_assert!((3..=100).contains(&v.chars().count()));
            prop_assert!(v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')));
            prop_assert_eq!(Username::parse(v).ok(), Some(name.clone()));
        }
    }

    #[test]
    fn username_accepts_every_well_formed_name(raw in "[a-zA-Z0-9_.-]{3,100}") {
        prop_assert_eq!(Username::parse(&raw).map(Username::into_inner), Ok(raw));
    }

    #[test]
    fn codename_parse_never_panics_and_splits_at_the_one_dot(raw in hostile_text()) {
        if let Ok(code) = Codename::parse(&raw) {
            let part_ok = |p: &str| (1..=50).contains(&p.len())
                && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            prop_assert!(part_ok(code.resource()) && part_ok(code.action()));
            prop_assert_eq!(format!("{}.{}", code.resource(), code.action()), code.as_str());
            prop_assert_eq!(code.as_str(), raw.trim());
            prop_assert_eq!(Codename::parse(code.as_str()).ok(), Some(code.clone()));
        }
    }

    #[test]
    fn codename_accepts_every_resource_action_pair(
        resource in "[a-z0-9_]{1,50}",
        action in "[a-z0-9_]{1,50}",
    ) {
        let code = Codename::parse(&format!("{resource}.{action}"))
            .map_err(|p| TestCaseError::fail(p.message))?;
        prop_assert_eq!((code.resource(), code.action()), (resource.as_str(), action.as_str()));
    }

    #[test]
    fn slug_parse_never_panics_and_accepts_only_lower_case_codenames(raw in hostile_text()) {
        if let Ok(slug) = Slug::parse(&raw) {
            let v = slug.as_str();
            prop_assert!((2..=100).contains(&v.len()));
            prop_assert!(v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')));
            prop_assert_eq!(Slug::parse(v).ok(), Some(slug.clone()));
        }
    }

    #[test]
    fn company_code_parse_never_panics_and_stores_upper_case(raw in hostile_text()) {
        if let Ok(code) = CompanyCode::parse(&raw) {
            let v = code.as_str();
            prop_assert!((2..=50).contains(&v.len()));
            prop_assert!(v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '_' | '-')));
            prop_assert_eq!(v, raw.trim().to_ascii_uppercase());
            prop_assert_eq!(CompanyCode::parse(v).ok(), Some(code.clone()));
        }
    }

    #[test]
    fn name_parse_never_panics_and_rejects_control_characters(raw in hostile_text(), max in 1usize..250) {
        if let Ok(name) = Name::parse(&raw, max) {
            let v = name.as_str();
            prop_assert!((1..=max).contains(&v.chars().count()));
            prop_assert!(!v.chars().any(char::is_control));
            prop_assert_eq!(v, raw.trim());
        }
    }
}

/// Id vectors that land on both sides of the inline limit (30 ids), with many
/// duplicates (small range) or almost none (full range).
fn id_vectors() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        prop::collection::vec(0u32..64, 0..100),
        prop::collection::vec(any::<u32>(), 0..100),
        prop::collection::vec(0u32..40, 25..40),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn permission_set_agrees_with_a_hash_set_model(
        ids in id_vectors(),
        probes in prop::collection::vec(any::<u32>(), 0..20),
        subset in prop::collection::vec(0u32..64, 0..6),
    ) {
        let model: HashSet<u32> = ids.iter().copied().collect();
        let set = PermissionSet::new(ids.iter().copied());

        prop_assert_eq!(set.len(), model.len());
        prop_assert_eq!(set.is_empty(), model.is_empty());
        // Iteration: strictly ascending, exactly the model's members.
        prop_assert!(set.ids().windows(2).all(|w| w[0] < w[1]));
        let mut sorted: Vec<u32> = model.iter().copied().collect();
        sorted.sort_unstable();
        prop_assert_eq!(set.ids(), sorted.as_slice());
        // Membership of members, of random probes and of the neighbours of members.
        for &id in ids.iter().chain(&probes).chain(&subset) {
            prop_assert_eq!(set.contains(id), model.contains(&id), "id {}", id);
            for n in [id.wrapping_sub(1), id.wrapping_add(1)] {
                prop_assert_eq!(set.contains(n), model.contains(&n), "neighbour {}", n);
            }
        }
        prop_assert_eq!(set.contains_all(&subset), subset.iter().all(|i| model.contains(i)));
        prop_assert_eq!(set.contains_any(&subset), subset.iter().any(|i| model.contains(i)));
        // Inline up to 30 ids, on the heap beyond.
        let expected_heap = if model.len() > 30 { model.len() * 4 } else { 0 };
        prop_assert_eq!(set.heap_bytes(), expected_heap);
        // Order and duplicates of the input do not matter.
        let reversed: PermissionSet = ids.iter().rev().copied().collect();
        prop_assert_eq!(&reversed, &set);
        prop_assert_eq!(PermissionSet::new(sorted), set);
    }
}
