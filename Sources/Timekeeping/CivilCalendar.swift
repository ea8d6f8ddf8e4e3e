/// The package's one proleptic Gregorian day count, shared by every date parser and formatter (webhook secret
/// rotation dates, customer timestamps, `Retry-After` IMF-fixdates) so none of them carries its own copy.
public enum CivilCalendar {
    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`): exact for every Gregorian date, no Foundation.
    public static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
