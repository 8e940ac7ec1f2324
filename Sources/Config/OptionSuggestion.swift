/// "Did you mean ...?" for misspelt option names: an unknown option is only a warning (oslo.config
/// ignores it too), so a typo such as `reinit_drivr_count` would otherwise silently leave the
/// default in force. Naming the option the operator probably meant turns that into a one-line fix.
package enum OptionSuggestion {
    /// The known name closest to `name` by edit distance, when it is close enough to be a typo
    /// (at most 1 edit for short names, up to a third of the name's length for longer ones, at most 4).
    /// Ties go to the alphabetically first name, so the hint is stable.
    package static func closest(to name: String, in known: some Sequence<String>) -> String? {
        closest(to: name, in: Vocabulary(known))
    }

    /// The same against names prepared once (sorted, lower-cased), for callers that ask for many.
    package static func closest(to name: String, in vocabulary: Vocabulary) -> String? {
        let typed = Array(name.lowercased().unicodeScalars)
        guard !typed.isEmpty else { return nil }
        let limit = min(4, max(1, typed.count / 3))
        var best: (name: String, distance: Int)?
        var rows = Rows(capacity: vocabulary.longest + 1)
        for (candidate, scalars) in vocabulary.entries
        where candidate != name && abs(scalars.count - typed.count) <= limit {
            let distance = editDistance(typed, scalars, limit: limit, rows: &rows)
            guard distance <= limit else { continue }
            if best == nil || distance < best!.distance { best = (candidate, distance) }
        }
        return best?.name
    }

    /// ` (did you mean X?)` when a known name is close to `name`, otherwise empty: appended to warnings.
    package static func hint(for name: String, in known: some Sequence<String>) -> String {
        hint(for: name, in: Vocabulary(known))
    }

    package static func hint(for name: String, in vocabulary: Vocabulary) -> String {
        closest(to: name, in: vocabulary).map { " (did you mean \($0)?)" } ?? ""
    }

    /// Known names sorted (so ties go to the alphabetically first) with their lower-cased scalars.
    package struct Vocabulary: Sendable {
        let entries: [(name: String, scalars: [Unicode.Scalar])]
        /// The longest name, in scalars.
        let longest: Int

        package init(_ known: some Sequence<String>) {
            entries = known.sorted().map { ($0, Array($0.lowercased().unicodeScalars)) }
            longest = entries.map(\.scalars.count).max() ?? 0
        }
    }

    /// Damerau-Levenshtein distance (adjacent transpositions count as one edit), giving up with
    /// `limit + 1` once every path is longer than `limit`.
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int) -> Int {
        var rows = Rows(capacity: b.count + 1)
        return editDistance(a, b, limit: limit, rows: &rows)
    }

    /// The three rows of the distance table, allocated once per search rather than per candidate.
    struct Rows {
        var previousPrevious: [Int]
        var previous: [Int]
        var current: [Int]

        init(capacity: Int) {
            previousPrevious = [Int](repeating: 0, count: capacity)
            previous = [Int](repeating: 0, count: capacity)
            current = [Int](repeating: 0, count: capacity)
        }

        init(_ previousPrevious: [Int], _ previous: [Int], _ current: [Int]) {
            self.previousPrevious = previousPrevious
            self.previous = previous
            self.current = current
        }
    }

    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], limit: Int, rows: inout Rows) -> Int {
        if abs(a.count - b.count) > limit { return limit + 1 }
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previousPrevious = rows.previousPrevious
        var previous = rows.previous
        var current = rows.current
        rows = Rows(capacity: 0)  // the arrays are used in place below, then handed back
        defer { rows = Rows(previousPrevious, previous, current) }
        for j in 0...b.count { previous[j] = j }
        for i in 1...a.count {
            current[0] = i
            var rowMinimum = current[0]
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    value = min(value, previousPrevious[j - 2] + 1)
                }
                current[j] = value
                rowMinimum = min(rowMinimum, value)
            }
            if rowMinimum > limit { return limit + 1 }
            (previousPrevious, previous, current) = (previous, current, previousPrevious)
        }
        return previous[b.count]
    }
}
